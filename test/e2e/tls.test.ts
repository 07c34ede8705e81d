import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import selfsigned from 'selfsigned';
import { runCli, startDaemonProcess } from '../support/daemon-process';

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

describe('TLS', () => {
  it('serves HTTPS with the configured certificate and key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-tls-'));
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      notAfterDate: new Date(Date.now() + 86400000),
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
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
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-tls-'));
    const r = runCli(['serve'], {
      env: { JITBROKER_DATA_DIR: path.join(dir, 'data'), JITBROKER_PORT: '0', JITBROKER_HTTP_TLS_CERT: '/nope/cert.pem', JITBROKER_HTTP_TLS_KEY: '/nope/key.pem' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http.tls.cert \/nope\/cert.pem: cannot be read \(ENOENT\)/);
    expect(r.stderr).toMatch(/http.tls.key \/nope\/key.pem: cannot be read/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses plain HTTP on a non-loopback address unless allowInsecure is set', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-tls-'));
    const r = runCli(['serve'], { env: { JITBROKER_DATA_DIR: path.join(dir, 'data'), JITBROKER_PORT: '0', JITBROKER_HOST: '0.0.0.0' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/http.host 0.0.0.0 is not loopback and http.tls is not set/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
