import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bearer } from './bearer';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli', 'main.js');

export interface DaemonProcess {
  url: string;
  dir: string;
  proc: ChildProcess;
  /** Everything the daemon wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** An env with nothing of the parent's JITBROKER_* settings, so each child starts from the defaults. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('JITBROKER_') && k !== 'LOG_LEVEL') env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `jitbroker serve` as a real child process and waits until it listens: on a free port
 * with its data dir in `cwd`, or with `defaults` on exactly what `npm start` uses.
 */
export async function startDaemonProcess(opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; defaults?: boolean } = {}): Promise<DaemonProcess> {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build (npm test does)`);
  const dir = opts.cwd ?? fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-e2e-'));
  const proc = spawn(process.execPath, [cliPath, 'serve'], {
    cwd: dir,
    env: cleanEnv(opts.defaults ? opts.env : { JITBROKER_PORT: '0', JITBROKER_DATA_DIR: path.join(dir, 'data'), ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A daemon that never listens is killed, or it would keep jest from ever exiting.
      proc.kill('SIGKILL');
      reject(new Error(`daemon did not listen in time:\n${out}`));
    }, opts.timeoutMs ?? 20000);
    const check = () => {
      const m = /"url":"(http[^"]+)".*"msg":"jitbroker listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    proc.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    dir,
    proc,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion. */
export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: opts.cwd ?? repoRoot, env: cleanEnv(opts.env), encoding: 'utf8', timeout: 30000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs `jitbroker serve` once where it is expected to stop by itself (a refused start), in a
 * temporary dir removed after: `env(dir)` writes what it needs there and gives the environment
 * (the data dir is `<dir>/data`, the port 0 unless it says otherwise). Its exit, and what it had
 * left in its data dir.
 */
export function serveInTempDir(env: (dir: string) => Record<string, string> = () => ({})) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-serve-'));
  const dataDir = path.join(dir, 'data');
  try {
    const r = runCli(['serve'], { env: { JITBROKER_DATA_DIR: dataDir, JITBROKER_PORT: '0', ...env(dir) } });
    return { ...r, left: fs.existsSync(dataDir) ? fs.readdirSync(dataDir) : [] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A local-identity token from `jitbroker token`, signed with the key in `dataDir` (the daemons' shared data dir). */
export function localToken(dataDir: string, sub: string, roles: string, groups = ''): string {
  const r = runCli(['token', '--sub', sub, '--roles', roles, ...(groups ? ['--groups', groups] : []), '--ttl', '1h'], { env: { JITBROKER_DATA_DIR: dataDir } });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

/** One API call to a daemon with a bearer token: its status, content type and JSON body. */
export async function callApi(base: string, token: string, method: string, route: string, body?: unknown) {
  const res = await fetch(base + route, {
    method,
    headers: { ...bearer(token), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}
