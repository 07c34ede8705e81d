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

/**
 * Settings for a daemon that one requester from one address drives far past the abuse limits
 * (bench:abuse measures those): without them it would answer 429, and the figures would measure refusals.
 */
export const benchRateLimits = {
  JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '100000000',
  JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '100000000',
};

/** Who holds the benchmarks' grant: a requester of the helpdesk group, which the policy lets elevate on the fleet. */
export const benchRequester = { subject: 'alice', roles: ['requester'], groups: ['helpdesk'] };

/** The world a reveal needs, as a support engineer finds it: a grant of theirs, active, on a device whose password the broker holds. */
export interface RevealWorld {
  admin: string;
  /** benchRequester's bearer token (2 h). */
  requester: string;
  grantId: string;
}

/**
 * Sets up, through the CLI and the API of the daemon at `url` (started with `env`), laptop-1
 * enrolled in the fleet with its agent's key in `dir`, its password set and acknowledged by one
 * agent run, a policy letting the helpdesk elevate there without approval, and an active grant of
 * benchRequester's on it.
 */
export async function setUpRevealWorld(url: string, env: NodeJS.ProcessEnv, dir: string): Promise<RevealWorld> {
  const admin = await runCli(['token', '--sub', 'bench-admin', '--roles', 'admin'], env);
  const { subject, roles, groups } = benchRequester;
  const requester = await runCli(['token', '--sub', subject, '--roles', roles.join(','), '--groups', groups.join(','), '--ttl', '2h'], env);
  const keyFile = path.join(dir, 'laptop-1.key');
  const jwk = await runCli(['agent', 'keygen', '--key', keyFile], env);
  await api(url, admin, 'POST', '/v1/devices', { id: 'laptop-1', groups: ['fleet'], agentKey: JSON.parse(jwk) });
  await api(url, admin, 'POST', '/v1/policies', { name: 'bench', principals: { groups: ['helpdesk'] }, deviceGroups: ['fleet'], maxDuration: 'PT4H' });
  // One agent run sets the device's first password and acknowledges it, so a reveal answers with a confirmed one.
  await runCli(['agent', 'run', '--url', url, '--device-id', 'laptop-1', '--key', keyFile, '--setter', 'file', '--file', path.join(dir, 'device.pw'), '--once'], env);
  const grant = await api(url, requester, 'POST', '/v1/grants', { deviceId: 'laptop-1', reason: 'bench', duration: 'PT2H' });
  return { admin, requester, grantId: grant.id as string };
}
