/** What the benchmarks share to drive the real daemon as a child process. */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');
export const cli = path.join(root, 'dist', 'cli', 'main.js');

/** Runs the CLI to completion; its stdout, trimmed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`jitbroker ${args.join(' ')} exited ${code}: ${out}${err}`))));
  });
}

/** One JSON call to the daemon's API; throws on an error status. */
export async function api(url: string, token: string, method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Waits until the daemon's own log file (written straight to disk, as under systemd) holds a match. */
export async function waitInFile(file: string, pattern: RegExp, proc: ChildProcess): Promise<RegExpExecArray> {
  for (let waited = 0; waited < 30000; waited += 50) {
    const m = pattern.exec(fs.readFileSync(file, 'utf8'));
    if (m) return m;
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${fs.readFileSync(file, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`daemon did not listen: ${fs.readFileSync(file, 'utf8')}`);
}

/** SIGTERM, then the exit code. */
export function stop(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.once('exit', (code) => resolve(code));
    proc.kill('SIGTERM');
  });
}

/**
 * `jitbroker serve` as a child process logging straight to `logFile` (as under systemd, not
 * through a pipe the bench must drain while it drives load); resolves once it listens.
 */
export async function startServe(logFile: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], main = cli): Promise<{ url: string; proc: ChildProcess }> {
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(process.execPath, [...nodeArgs, main, 'serve'], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const m = await waitInFile(logFile, /"url":"(http[^"]+)"[^\n]*"msg":"jitbroker listening"/, proc);
  return { url: m[1] as string, proc };
}
