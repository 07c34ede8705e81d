import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import selfsigned from 'selfsigned';
import { DaemonProcess, serveInTempDir, startDaemonProcess } from '../support/daemon-process';
import { start as startFakeEntra } from '../support/fake-entra';
import { bearer } from '../support/bearer';

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function selfSigned() {
  return selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    notAfterDate: new Date(Date.now() + 86400000),
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
}

describe('TLS', () => {
  it('serves HTTPS with the configured certificate and key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-tls-'));
    const pems = await selfSigned();
    fs.writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
    fs.writeFileSync(path.join(dir, 'key.pem'), pems.private, { mode: 0o600 });
    const d = await startDaemonProcess({ cwd: dir, env: { JITBROKER_HTTP_TLS_CERT: path.join(dir, 'cert.pem'), JITBROKER_HTTP_TLS_KEY: path.join(dir, 'key.pem') } });
    try {
      expect(d.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await get(`${d.url}/healthz`, pems.cert);
      expect(res).toEqual({ status: 200, body: '{"status":"ok"}' });
      await expect(get(`${d.url}/healthz`, '')).rejects.toThrow(/self-signed|certificate/);
    } finally {
      await d.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start, before listening, when the certificate or key cannot be read', () => {
    const r = serveInTempDir(() => ({ JITBROKER_HTTP_TLS_CERT: '/nope/cert.pem', JITBROKER_HTTP_TLS_KEY: '/nope/key.pem' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http.tls.cert \/nope\/cert.pem: cannot be read \(ENOENT\)/);
    expect(r.stderr).toMatch(/http.tls.key \/nope\/key.pem: cannot be read/);
  });

  /** `jitbroker serve` with these as http.tls.cert and http.tls.key (files beside its data dir). */
  const serveWithTlsFiles = (cert: string, key: string) =>
    serveInTempDir((dir) => {
      fs.writeFileSync(path.join(dir, 'cert.pem'), cert);
      fs.writeFileSync(path.join(dir, 'key.pem'), key, { mode: 0o600 });
      return { JITBROKER_HTTP_TLS_CERT: path.join(dir, 'cert.pem'), JITBROKER_HTTP_TLS_KEY: path.join(dir, 'key.pem') };
    });

  // Readable files that OpenSSL cannot use must stop it before the store opens, with exit 2 (the
  // systemd unit's RestartPreventExitStatus): not an OpenSSL stack trace and exit 1, restarted forever.
  it.each([
    ['a key file that is not PEM', (_own: string, _other: string) => 'this is not a key\n', /http\.tls\.key \S+key\.pem: not a usable PEM private key/],
    ['the key of another certificate', (_own: string, other: string) => other, /http\.tls\.key \S+key\.pem: does not match the certificate in http\.tls\.cert \S+cert\.pem/],
  ])('refuses to start, before opening the store, with %s: exit 2, one line naming the key', async (_name, keyFile, message) => {
    const [pems, other] = await Promise.all([selfSigned(), selfSigned()]);
    const r = serveWithTlsFiles(pems.cert, keyFile(pems.private, other.private));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^jitbroker: refusing to start:\n/);
    const lines = r.stderr.trim().split('\n').slice(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(r.stdout).not.toMatch(/listening/);
    // Refused before the store was opened: no database was created.
    expect(r.left).not.toContain('jitbroker.db');
  });

  it('names the certificate when the certificate file is not PEM', async () => {
    const r = serveWithTlsFiles('garbage\n', (await selfSigned()).private);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http\.tls\.cert \S+cert\.pem: not a usable PEM certificate/);
    expect(r.stderr).not.toMatch(/http\.tls\.key/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('refuses plain HTTP on a non-loopback address unless allowInsecure is set', () => {
    const r = serveInTempDir(() => ({ JITBROKER_HOST: '0.0.0.0' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http.host 0.0.0.0 is not loopback and http.tls is not set/);
  });
});

describe('plain HTTP on a non-loopback address with http.allowInsecure', () => {
  it('starts with the warning in its log and serves, there and on every address of the host', async () => {
    // Local identity is refused off loopback: the daemon verifies tokens of a (local) OIDC issuer.
    const entra = await startFakeEntra();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-insecure-'));
    let d: DaemonProcess | undefined;
    try {
      d = await startDaemonProcess({
        cwd: dir,
        env: {
          JITBROKER_HOST: '0.0.0.0',
          JITBROKER_HTTP_ALLOW_INSECURE: 'true',
          JITBROKER_IDENTITY_MODE: 'oidc',
          JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
          JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
          JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
        },
      });
      expect(d.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
      const warning = d
        .output()
        .split('\n')
        .find((l) => l.includes('serving plain HTTP on a non-loopback address'));
      expect(warning).toBeDefined();
      expect(JSON.parse(warning as string)).toMatchObject({ level: 40, host: '0.0.0.0', msg: expect.stringMatching(/unencrypted unless a TLS proxy sits in front/) });
      const { port } = new URL(d.url);
      const hosts = ['127.0.0.1', ...Object.values(os.networkInterfaces()).flatMap((nics) => (nics ?? []).filter((n) => n.family === 'IPv4' && !n.internal).map((n) => n.address))];
      const admin = await entra.mint({ oid: 'admin-1', roles: ['admin'] });
      // Behind a proxy, idle connections outlive its usual 60 s idle timeout (http.keepAliveTimeoutSeconds), and the daemon says so.
      expect((await fetch(`${d.url.replace('0.0.0.0', '127.0.0.1')}/healthz`)).headers.get('keep-alive')).toBe('timeout=65');
      for (const host of hosts) {
        expect((await fetch(`http://${host}:${port}/healthz`)).status).toBe(200);
        const policies = await fetch(`http://${host}:${port}/v1/policies`, { headers: { ...bearer(admin) } });
        expect(policies.status).toBe(200);
        expect(await policies.json()).toEqual({ items: [], nextCursor: null });
      }
    } finally {
      if (d) expect(await d.stop()).toBe(0);
      await entra.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('request timeouts (http.headersTimeoutSeconds, http.requestTimeoutSeconds, http.keepAliveTimeoutSeconds)', () => {
  let d: DaemonProcess;
  beforeAll(async () => {
    d = await startDaemonProcess({
      env: { JITBROKER_HTTP_HEADERS_TIMEOUT_SECONDS: '1', JITBROKER_HTTP_REQUEST_TIMEOUT_SECONDS: '2', JITBROKER_HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '3' },
    });
  });
  afterAll(async () => {
    await d.stop();
    fs.rmSync(d.dir, { recursive: true, force: true });
  });

  /** Opens a raw connection, writes `first`, sends nothing more; resolves with what came back and when the server closed it. */
  async function stall(first: string): Promise<{ answer: string; closedAfterMs: number }> {
    const { port } = new URL(d.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    const started = Date.now();
    let answer = '';
    sock.on('data', (b: Buffer) => (answer += b.toString()));
    sock.write(first);
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    return { answer, closedAfterMs: Date.now() - started };
  }

  it('answers 408 and closes the socket of a client whose headers never finish', async () => {
    const r = await stall('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(problemOf(r.answer)).toMatchObject({ status: 408, code: 'request-timeout' });
    // Not before the configured second; and by the 15 s default it would not be closed yet.
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(r.closedAfterMs).toBeLessThan(5000);
  });

  it('answers 408 and closes the socket of a client that sends its headers but never finishes its body', async () => {
    const body = JSON.stringify({ deviceId: 'laptop-1', reason: 'r', duration: 'PT1H' });
    const r = await stall(`POST /v1/grants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    // The whole-request limit (2 s) cut it, not the headers limit (1 s): its headers were complete.
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(r.closedAfterMs).toBeLessThan(6000);
  });

  it('keeps an idle keep-alive connection open for http.keepAliveTimeoutSeconds, says so in Keep-Alive, then closes it', async () => {
    const r = await stall('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.answer).toMatch(/\r\nkeep-alive: timeout=3\r\n/i);
    // Open past the 1 s headers timeout and the 2 s request timeout: only the keep-alive timeout (3 s) ends an idle connection.
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(2900);
    expect(r.closedAfterMs).toBeLessThan(4900);
  });

  /** The problem document after the status line and headers of a raw answer. */
  const problemOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { status: number; code: string };

  it('answers what the HTTP parser refuses with a problem document too, and closes the connection (issue 17.6)', async () => {
    const cases: Array<[string, RegExp, string]> = [
      ['FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /, 'invalid-request'],
      ['GET /v1/grants/a\x01b HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /, 'invalid-request'],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, /^HTTP\/1\.1 431 /, 'headers-too-large'],
    ];
    for (const [request, status, code] of cases) {
      const r = await stall(request);
      expect(r.answer).toMatch(status);
      expect(r.answer).toMatch(/\r\ncontent-type: application\/problem\+json\r\n/i);
      expect(problemOf(r.answer)).toMatchObject({ code });
    }
  });

  it('still serves other clients meanwhile', async () => {
    expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
  });
});
