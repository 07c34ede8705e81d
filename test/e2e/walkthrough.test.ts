import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { problems } from '../../src/problems/problem';
import { DaemonProcess, cleanEnv, cliPath, repoRoot, runCli, serveInTempDir, startDaemonProcess } from '../support/daemon-process';
import { waitUntil } from '../support/wait-until';

const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

function between(start: string, end: string): string {
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README has no ${start} … ${end} section`);
  return readme.slice(from + start.length, to);
}

describe("the README's walkthrough, against the real daemon", () => {
  let d: DaemonProcess;
  beforeAll(async () => {
    d = await startDaemonProcess();
  });
  afterAll(async () => {
    await d.stop();
    fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it('runs as pasted: the agent sets the password, alice reads exactly that, bob is refused, the chain verifies', () => {
    const script = /```bash\n([\s\S]*?)```/.exec(between('<!-- walkthrough:start -->', '<!-- walkthrough:end -->'))?.[1];
    expect(script).toBeDefined();
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', `jb() { node ${JSON.stringify(cliPath)} "$@"; }\n${script}`], {
      cwd: d.dir,
      env: cleanEnv({ JITBROKER_URL: d.url, JITBROKER_DATA_DIR: path.join(d.dir, 'data') }),
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(r.status).toBe(0);
    const devicePassword = fs.readFileSync(path.join(d.dir, 'laptop-7.password'), 'utf8');
    expect(devicePassword).toMatch(/^.{20}$/);
    expect(r.stdout).toContain(`password: ${devicePassword}`);
    expect(r.stdout).toContain('refused, as it should be');
    expect(r.stderr).toMatch(/Only the grant's requester may read its password/);
    expect(r.stdout).toMatch(/ok: +true/);
    expect(r.stdout).toMatch(/grant\.password-revealed +success/);
    expect(r.stdout).toMatch(/grant\.password-revealed +denied/);
    expect(r.stdout).toMatch(/state: +revoked/);
    expect(fs.statSync(path.join(d.dir, 'laptop-7.key')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(d.dir, 'laptop-7.password')).mode & 0o777).toBe(0o600);
    // the password was shown once, to alice: never in the daemon's own output
    expect(d.output()).not.toContain(devicePassword);
    expect(d.output()).toMatch(/identity.mode is local/);
  });

  it('the data dir is private: dir 0700, database and keys 0600', () => {
    const data = path.join(d.dir, 'data');
    expect(fs.statSync(data).mode & 0o777).toBe(0o700);
    for (const f of ['jitbroker.db', 'vault-master.key', 'identity-key.json']) expect(fs.statSync(path.join(data, f)).mode & 0o777).toBe(0o600);
  });

  it('the error table in the README is the problems table', () => {
    const rows = between('<!-- errors:start -->', '<!-- errors:end -->')
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) =>
        l
          .split('|')
          .map((c) => c.trim())
          .slice(1, 4),
      );
    expect(rows).toEqual(Object.entries(problems).map(([code, p]) => [`\`${code}\``, String(p.status), p.title]));
  });
});

describe('start-up and shutdown of the real daemon', () => {
  it('npm start with no setup listens on 127.0.0.1:7800 with ./data (the port must be free)', async () => {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(7800, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    // Not skipped in silence: a test that passes without running proves nothing.
    if (!free) throw new Error('127.0.0.1:7800 is held by another program: this test checks what npm start does with no setup, so it needs that port free');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-defaults-'));
    const d = await startDaemonProcess({ cwd: dir, defaults: true });
    try {
      expect(d.url).toBe('http://127.0.0.1:7800');
      expect((await fetch('http://127.0.0.1:7800/readyz')).status).toBe(200);
      expect(fs.statSync(path.join(dir, 'data')).mode & 0o777).toBe(0o700);
    } finally {
      expect(await d.stop()).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM finishes the request in flight, stops taking new ones, exits 0 and leaves a clean database', async () => {
    const d = await startDaemonProcess();
    // A request whose body is still arriving when SIGTERM lands must still get its answer.
    const { port } = new URL(d.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    let answer = '';
    sock.on('data', (b: Buffer) => (answer += b.toString()));
    const body = JSON.stringify({ deviceId: 'laptop-1', reason: 'r', duration: 'PT1H' });
    // Expect: 100-continue makes the daemon say when it has read the headers: the request is then in flight.
    sock.write(`POST /v1/grants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    sock.write(body.slice(0, 10));
    await waitUntil('the daemon to read the headers', () => answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    d.proc.kill('SIGTERM');
    // It has taken the signal once it refuses new connections; only then does the rest of the body arrive.
    await waitUntil('the daemon to stop listening', () => refusesConnections(Number(port)));
    sock.end(body.slice(10));
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    expect(answer).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 401 /);
    expect(answer).toMatch(/application\/problem\+json/);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(d.output()).toMatch(/jitbroker stopped/);
    await expect(fetch(`${d.url}/healthz`)).rejects.toThrow();
    // the last connection closed cleanly: SQLite checkpointed and removed the WAL
    expect(fs.existsSync(path.join(d.dir, 'data', 'jitbroker.db-wal'))).toBe(false);
    fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it('a bad configuration stops it before it listens: exit 2, one line per bad key', () => {
    const r = serveInTempDir(() => ({ JITBROKER_PORT: 'eighty', JITBROKER_ROTATION_MAX_AGE: 'soon' }));
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/invalid configuration, not started/);
    expect(lines.filter((l) => l.startsWith('config '))).toHaveLength(2);
    expect(r.stderr).toMatch(/config http.port \(from JITBROKER_PORT\): "eighty"/);
    expect(r.stderr).toMatch(/config rotation.maxAge \(from JITBROKER_ROTATION_MAX_AGE\): "soon"/);
    expect(r.stdout).not.toMatch(/listening/);
    expect(r.left).toEqual([]);
  });

  it('refuses local identity on a non-loopback address: exit 2 before listening', () => {
    const r = serveInTempDir(() => ({ JITBROKER_HOST: '0.0.0.0', JITBROKER_HTTP_ALLOW_INSECURE: 'true' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/identity.mode 'local' is for one host/);
    expect(r.stdout).not.toMatch(/listening/);
    // Refused before the store, the vault key or the identity key were made.
    expect(r.left).toEqual([]);
  });

  it('refuses to start when the vault master key does not match the store', async () => {
    const d = await startDaemonProcess();
    await d.stop();
    const key = path.join(d.dir, 'data', 'vault-master.key');
    fs.rmSync(key);
    fs.writeFileSync(key, Buffer.alloc(32, 7).toString('base64') + '\n', { mode: 0o600 });
    const r = runCli(['serve'], { env: { JITBROKER_PORT: '0', JITBROKER_DATA_DIR: path.join(d.dir, 'data') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/vault master key .* does not decrypt/);
    fs.rmSync(d.dir, { recursive: true, force: true });
  });
});

describe('the CLI', () => {
  it('jitbroker token prints the bare JWT on one line and nothing else', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jb-token-'));
    const r = runCli(['token', '--sub', 'alice', '--roles', 'requester', '--groups', 'helpdesk'], { env: { JITBROKER_DATA_DIR: dir } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    expect(r.stderr).toBe('');
    const claims = JSON.parse(Buffer.from(r.stdout.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: 'alice', roles: ['requester'], groups: ['helpdesk'], iss: 'jitbroker-local', aud: 'jitbroker' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses unknown roles and bad lifetimes with a one-line message', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jb-token-'));
    const roles = runCli(['token', '--sub', 'x', '--roles', 'root'], { env: { JITBROKER_DATA_DIR: dir } });
    expect(roles.code).toBe(1);
    expect(roles.stderr).toBe('jitbroker: unknown role(s) root; accepted: requester, approver, admin, auditor\n');
    const ttl = runCli(['token', '--sub', 'x', '--ttl', 'forever'], { env: { JITBROKER_DATA_DIR: dir } });
    expect(ttl.code).toBe(1);
    expect(ttl.stderr).toMatch(/--ttl forever: not a lifetime/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits non-zero with the problem detail when the daemon refuses, and says so when it is not there', () => {
    const noToken = runCli(['device', 'list', '--url', 'http://127.0.0.1:9'], {});
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^jitbroker: cannot reach http:\/\/127.0.0.1:9/);
  });
});

/** Whether a new connection to the port is refused. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', () => resolve(true));
  });
}
