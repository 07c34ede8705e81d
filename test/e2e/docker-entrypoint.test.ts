import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import selfsigned from 'selfsigned';
import { cleanEnv, cliPath, repoRoot } from '../support/daemon-process';

// The image's entrypoint and Dockerfile, exercised without a container engine: the script runs as
// a child process against this checkout's dist/ (JITBROKER_APP_DIR, JITBROKER_NODE).
const entrypoint = path.join(repoRoot, 'scripts', 'docker-entrypoint.sh');
const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const isRoot = process.getuid?.() === 0;
const imageUser = { uid: 10001, gid: 10001 };
const asRoot: Record<string, string> = isRoot ? { JITBROKER_ALLOW_ROOT: '1' } : {};
const itAsRoot = isRoot ? it : it.skip;

/** A directory another user can reach (os.tmpdir() may be 0700 root), for the runs as the image's user. */
function sharedTempDir(): string {
  const parent = isRoot && fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(parent, 'jitbroker-entrypoint-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Whether uid 10001 can read this checkout's script, CLI, dependencies and node (a clone under a 0700 dir cannot). */
function imageUserCanRunCheckout(): boolean {
  if (!isRoot) return false;
  const sqlite = path.join(repoRoot, 'node_modules', 'better-sqlite3', 'package.json');
  const r = spawnSync('sh', ['-c', 'test -r "$1" && test -r "$2" && test -r "$3" && test -x "$4"', 'sh', entrypoint, cliPath, sqlite, process.execPath], imageUser);
  return r.status === 0;
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ JITBROKER_APP_DIR: repoRoot, JITBROKER_NODE: process.execPath, ...extra });
}

function run(args: string[], extra: Record<string, string>, opts: { uid?: number; gid?: number; script?: string; cwd?: string } = {}) {
  const r = spawnSync('sh', [opts.script ?? entrypoint, ...args], {
    cwd: opts.cwd ?? os.tmpdir(),
    env: env(extra),
    encoding: 'utf8',
    timeout: 30000,
    uid: opts.uid,
    gid: opts.gid,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Started {
  url: string;
  port: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

/** Runs the entrypoint (default command: serve) and waits for the daemon's listening line. */
async function start(extra: Record<string, string>, opts: { uid?: number; gid?: number; cwd: string }): Promise<Started> {
  const proc = spawn('sh', [entrypoint], { cwd: opts.cwd, env: env({ JITBROKER_PORT: '0', ...extra }), stdio: ['ignore', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not listen in time:\n${out}`)), 20000);
    proc.stdout?.on('data', () => {
      const m = /"url":"(http[^"]+)".*"msg":"jitbroker listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    (url.startsWith('https:') ? https : http)
      .get(url, ca ? { ca } : {}, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The Dockerfile's HEALTHCHECK command (exec form), run here with `node` as this node. */
function healthcheck(extra: Record<string, string>): number | null {
  const m = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile);
  if (!m) throw new Error('the Dockerfile has no HEALTHCHECK … CMD ["node", …] in exec form');
  const [bin, ...args] = JSON.parse(m[1] as string) as string[];
  expect(bin).toBe('node');
  return spawnSync(process.execPath, args, { env: cleanEnv(extra), timeout: 15000 }).status;
}

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

describe('the container entrypoint (scripts/docker-entrypoint.sh)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = sharedTempDir();
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  itAsRoot('refuses to run as root unless JITBROKER_ALLOW_ROOT=1, before touching the data dir', () => {
    const data = path.join(tempDir(), 'data');
    const refused = run(['--version'], { JITBROKER_DATA_DIR: data });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^jitbroker-entrypoint: refusing to start:\n {2}running as root \(uid 0\)/);
    expect(refused.stderr).toContain('set JITBROKER_ALLOW_ROOT=1');
    expect(refused.stdout).toBe('');
    expect(fs.existsSync(data)).toBe(false);
    const allowed = run(['--version'], { JITBROKER_DATA_DIR: data, JITBROKER_ALLOW_ROOT: '1' });
    expect(allowed).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });

  it('creates the data dir 0700, tightens an existing one to 0700, and refuses a path it cannot use', () => {
    const base = tempDir();
    const created = path.join(base, 'volume', 'data');
    expect(run(['--version'], { ...asRoot, JITBROKER_DATA_DIR: created }).code).toBe(0);
    expect(modeOf(created)).toBe(0o700);
    expect(fs.readdirSync(created)).toEqual([]); // the write probe leaves nothing behind

    const loose = path.join(base, 'loose');
    fs.mkdirSync(loose, { mode: 0o755 });
    fs.chmodSync(loose, 0o755);
    expect(run(['--version'], { ...asRoot, JITBROKER_DATA_DIR: loose }).code).toBe(0);
    expect(modeOf(loose)).toBe(0o700);

    const file = path.join(base, 'a-file');
    fs.writeFileSync(file, '');
    const below = run(['--version'], { ...asRoot, JITBROKER_DATA_DIR: path.join(file, 'data') });
    expect(below.code).toBe(2);
    expect(below.stderr).toMatch(/data dir .*a-file\/data does not exist and uid \d+ cannot create it/);
    expect(below.stdout).toBe('');
    const notDir = run(['--version'], { ...asRoot, JITBROKER_DATA_DIR: file });
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toMatch(/data dir .*a-file is not a directory/);
  });

  itAsRoot("refuses, as the image's user (uid 10001), a data dir it does not own and cannot write (a host directory mounted as root's)", () => {
    const base = tempDir();
    // A copy of the script where uid 10001 can read it, whoever owns this checkout.
    const script = path.join(base, 'docker-entrypoint.sh');
    fs.copyFileSync(entrypoint, script);
    fs.chmodSync(script, 0o755);
    const data = path.join(base, 'data');
    fs.mkdirSync(data, { mode: 0o755 });
    fs.chmodSync(data, 0o755);
    const r = run(['--version'], { JITBROKER_DATA_DIR: data }, { ...imageUser, script, cwd: base });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/data dir .*\/data is owned by uid 0, not by uid 10001 that runs jitbroker/);
    expect(r.stderr).toContain('chown -R 10001:10001');
    expect(modeOf(data)).toBe(0o755); // left as it was

    // Its own directory, but on a path it cannot write below: refused as well.
    const r2 = run(['--version'], { JITBROKER_DATA_DIR: path.join(data, 'sub') }, { ...imageUser, script, cwd: base });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/does not exist and uid 10001 cannot create it/);
  });

  it("starts the daemon: /healthz answers, the Dockerfile's HEALTHCHECK passes, SIGTERM reaches the daemon (exec)", async () => {
    const base = tempDir();
    const data = path.join(base, 'data');
    const d = await start({ ...asRoot, JITBROKER_HOST: '127.0.0.1', JITBROKER_DATA_DIR: data }, { cwd: base });
    let stopped: number | null = null;
    try {
      expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(await get(`${d.url}/healthz`)).toEqual({ status: 200, body: '{"status":"ok"}' });
      expect(healthcheck({ JITBROKER_PORT: String(d.port) })).toBe(0);
      expect(modeOf(data)).toBe(0o700);
      expect(fs.existsSync(path.join(data, 'jitbroker.db'))).toBe(true);
    } finally {
      stopped = await d.stop();
    }
    // sh exec'd node: the signal went to the daemon itself, which drained and exited cleanly.
    expect(stopped).toBe(0);
    expect(d.output()).toMatch(/"msg":"jitbroker stopped"/);
    expect(healthcheck({ JITBROKER_PORT: String(d.port) })).toBe(1);
  });

  it('refuses plain HTTP on all addresses (its container default) with the choices, and never sets allowInsecure itself', () => {
    const base = tempDir();
    const data = path.join(base, 'data');
    const r = run(['serve'], { ...asRoot, JITBROKER_DATA_DIR: data });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^jitbroker-entrypoint: refusing to start:\n {2}jitbroker would listen on 0\.0\.0\.0 over plain HTTP/);
    expect(r.stderr).toContain('JITBROKER_HTTP_TLS_CERT=');
    expect(r.stderr).toContain('set JITBROKER_HTTP_ALLOW_INSECURE=true');
    expect(r.stderr).toContain('set JITBROKER_HOST=127.0.0.1');
    expect(r.stdout).toBe('');
    expect(fs.existsSync(path.join(data, 'jitbroker.db'))).toBe(false); // the daemon never ran

    // The same for an address given, with no default: JITBROKER_HTTP_HOST is read too.
    expect(run([], { ...asRoot, JITBROKER_DATA_DIR: data, JITBROKER_HTTP_HOST: '10.1.2.3' }).stderr).toMatch(/would listen on 10\.1\.2\.3 over plain HTTP/);
    const half = run([], { ...asRoot, JITBROKER_DATA_DIR: data, JITBROKER_HTTP_TLS_CERT: '/run/secrets/tls.crt' });
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/needs both JITBROKER_HTTP_TLS_CERT and JITBROKER_HTTP_TLS_KEY/);
    const unclear = run([], { ...asRoot, JITBROKER_DATA_DIR: data, JITBROKER_HTTP_ALLOW_INSECURE: 'yes' });
    expect(unclear.code).toBe(2);
    expect(unclear.stderr).toMatch(/JITBROKER_HTTP_ALLOW_INSECURE=yes: accepted: true or false/);
  });

  it('hands a non-loopback address with TLS files or JITBROKER_HTTP_ALLOW_INSECURE=true to the daemon, whose own checks still apply', () => {
    const data = path.join(tempDir(), 'data');
    const tls = run([], { ...asRoot, JITBROKER_DATA_DIR: data, JITBROKER_HTTP_TLS_CERT: '/nonexistent/tls.crt', JITBROKER_HTTP_TLS_KEY: '/nonexistent/tls.key' });
    expect(tls.code).toBe(2);
    expect(tls.stderr).not.toContain('jitbroker-entrypoint');
    expect(tls.stderr).toMatch(/^jitbroker: refusing to start:\n.*http\.tls\.cert \/nonexistent\/tls\.crt: cannot be read/);
    // A bad port makes the daemon stop before it could listen anywhere: this checks only the hand-over.
    const insecure = run([], { ...asRoot, JITBROKER_DATA_DIR: data, JITBROKER_HTTP_ALLOW_INSECURE: 'true', JITBROKER_PORT: '99999' });
    expect(insecure.code).toBe(2);
    expect(insecure.stderr).not.toContain('jitbroker-entrypoint');
    expect(insecure.stderr).toMatch(/^jitbroker: invalid configuration, not started:\nconfig http\.port \(from JITBROKER_PORT\)/);
  });

  it("serves HTTPS as the image's unprivileged user when given TLS files, and the HEALTHCHECK speaks TLS then", async () => {
    const base = tempDir();
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      notAfterDate: new Date(Date.now() + 86400000),
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const cert = path.join(base, 'tls.crt');
    const key = path.join(base, 'tls.key');
    fs.writeFileSync(cert, pems.cert);
    fs.writeFileSync(key, pems.private, { mode: 0o600 });
    // As root, run it as uid 10001 (the image's USER) when that user can read this checkout.
    const unprivileged = imageUserCanRunCheckout();
    if (unprivileged) for (const p of [base, cert, key]) fs.chownSync(p, imageUser.uid, imageUser.gid);
    const tlsEnv = { JITBROKER_HTTP_TLS_CERT: cert, JITBROKER_HTTP_TLS_KEY: key };
    const data = path.join(base, 'data');
    const d = await start(
      { ...(unprivileged ? {} : asRoot), ...tlsEnv, JITBROKER_HOST: '127.0.0.1', JITBROKER_DATA_DIR: data, HOME: base },
      { cwd: base, ...(unprivileged ? imageUser : {}) },
    );
    try {
      expect(d.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await get(`${d.url}/healthz`, pems.cert)).toEqual({ status: 200, body: '{"status":"ok"}' });
      expect(healthcheck({ ...tlsEnv, JITBROKER_PORT: String(d.port) })).toBe(0);
      expect(healthcheck({ JITBROKER_PORT: String(d.port) })).toBe(1); // plain HTTP to an HTTPS port
      if (unprivileged) expect(fs.statSync(data).uid).toBe(imageUser.uid);
      expect(modeOf(data)).toBe(0o700);
    } finally {
      expect(await d.stop()).toBe(0);
    }
  });

  it('logs JSON with one warning when log.pretty is set but pino-pretty is not installed (a production image)', async () => {
    const base = tempDir();
    // Makes pino-pretty unresolvable in the daemon, as in an image built with npm ci --omit=dev.
    const hook = path.join(base, 'no-pino-pretty.js');
    fs.writeFileSync(
      hook,
      `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'pino-pretty' || request.startsWith('pino-pretty/')) throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
`,
    );
    const d = await start(
      { ...asRoot, JITBROKER_HOST: '127.0.0.1', JITBROKER_DATA_DIR: path.join(base, 'data'), JITBROKER_LOG_PRETTY: 'true', NODE_OPTIONS: `--require ${hook}` },
      { cwd: base },
    );
    try {
      expect(await get(`${d.url}/healthz`)).toMatchObject({ status: 200 });
    } finally {
      await d.stop();
    }
    const lines = d
      .output()
      .split('\n')
      .filter((l) => l !== '');
    const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(records.filter((r) => /pino-pretty/.test(r.msg))).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/pino-pretty is not installed/) })]);
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['jitbroker listening', 'jitbroker stopped']));
  });
});

describe('the Dockerfile', () => {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const all = (name: string) => instructions.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());
  const last = (name: string) => all(name).at(-1);

  it('builds in one stage and runs in another, on Node.js 20 or newer, as uid 10001 with the data dir a volume', () => {
    expect(all('FROM')).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    const base = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile);
    expect(Number(base?.[1])).toBeGreaterThanOrEqual(20);
    expect(dockerfile).toMatch(/RUN npm ci --ignore-scripts && npm rebuild better-sqlite3/);
    expect(dockerfile).toMatch(/npm run build && npm prune --omit=dev/);
    expect(last('USER')).toBe('10001:10001');
    expect(last('VOLUME')).toBe('/var/lib/jitbroker');
    expect(last('EXPOSE')).toBe('7800');
    expect(all('ENV').join(' ')).toMatch(/JITBROKER_DATA_DIR=\/var\/lib\/jitbroker/);
    expect(all('ENV').join(' ')).toMatch(/JITBROKER_APP_DIR=\/app/);
    expect(last('CMD')).toBe('["serve"]');
  });

  it('runs this entrypoint under tini, and ships the built CLI and the default config where the entrypoint looks', () => {
    const entry = JSON.parse(last('ENTRYPOINT') ?? '[]') as string[];
    expect(entry).toEqual(['/usr/bin/tini', '--', '/usr/local/bin/docker-entrypoint.sh']);
    expect(all('COPY')).toEqual(
      expect.arrayContaining(['web ./web', '--from=build /src/dist ./dist', 'config ./config', '--chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh']),
    );
    expect(last('WORKDIR')).toBe('/app');
    expect(fs.statSync(entrypoint).mode & 0o111).not.toBe(0);
    // Only what the build needs goes into the context: never data/ (keys), node_modules or .git.
    const ignore = fs
      .readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore.slice(1).every((l) => l.startsWith('!'))).toBe(true);
    expect(ignore).not.toEqual(expect.arrayContaining(['!data/', '!node_modules/', '!.git/']));
    for (const p of ignore.slice(1)) expect(fs.existsSync(path.join(repoRoot, p.slice(1)))).toBe(true);
  });
});
