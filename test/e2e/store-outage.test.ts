import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { callApi, cleanEnv, cliPath, DaemonProcess, localToken, runCli, startDaemonProcess } from '../support/daemon-process';
import { waitUntil } from '../support/wait-until';
import { TestPostgres, startPostgres } from '../support/postgres';

jest.setTimeout(60000);
const run = promisify(execFile);

/**
 * A real daemon on a real PostgreSQL cluster that goes away: killed under load (pg_ctl stop -m
 * immediate), refusing connections while it starts up (57P03), and down before the daemon starts.
 * The daemon never exits, answers 503 problem documents (never 500) while the store is away, says
 * so on /readyz, and serves again by itself once the cluster is back on the same port.
 */
describe('a PostgreSQL outage under load', () => {
  let pg: TestPostgres;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-outage-'));
  const dataDir = path.join(dir, 'data');
  const daemons: DaemonProcess[] = [];
  let requester = '';
  let grantId = '';

  const env = (url = pg.url) => ({
    JITBROKER_STORE_DRIVER: 'postgres',
    JITBROKER_STORE_URL: url,
    JITBROKER_DATA_DIR: dataDir,
    JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '1000000',
    JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '1000000',
  });
  const start = async (url?: string) => {
    const d = await startDaemonProcess({ cwd: fs.mkdtempSync(path.join(dir, 'd-')), env: env(url) });
    daemons.push(d);
    return d;
  };
  const token = (sub: string, roles: string, groups = '') => localToken(dataDir, sub, roles, groups);
  const call = callApi;
  const reveal = (base: string) => call(base, requester, 'GET', `/v1/grants/${grantId}/password`);
  const status = async (url: string) => (await fetch(url)).status;
  const detail = () => daemons.map((d) => d.output().slice(-3000)).join('\n---\n') + `\n--- postgres\n${pg.log().slice(-2000)}`;
  const waitFor = (what: string, check: () => Promise<boolean>) => waitUntil(what, check, { timeoutMs: 20000, intervalMs: 100, detail });
  /** The daemon's log lines that say the store is unavailable, by cause. */
  const outageCauses = (d: DaemonProcess) =>
    d
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"the store is unavailable'))
      .map((l) => (JSON.parse(l) as { cause: string }).cause);

  beforeAll(async () => {
    pg = await startPostgres();
    expect(runCli(['migrate', '--store', pg.url]).code).toBe(0);
    const a = await start();
    const admin = token('admin-1', 'admin');
    const keyFile = path.join(dir, 'pc-1.key');
    const keygen = runCli(['agent', 'keygen', '--key', keyFile]);
    expect(keygen.code).toBe(0);
    expect((await call(a.url, admin, 'POST', '/v1/devices', { id: 'pc-1', groups: ['fleet'], agentKey: JSON.parse(keygen.stdout) })).status).toBe(201);
    const deviceFile = path.join(dir, 'pc-1.password');
    await run(process.execPath, [cliPath, 'agent', 'run', '--once', '--url', a.url, '--device-id', 'pc-1', '--key', keyFile, '--setter', 'file', '--file', deviceFile], {
      env: cleanEnv(),
    });
    const policy = { name: 'helpdesk-fleet', principals: { groups: ['helpdesk'] }, deviceGroups: ['fleet'], maxDuration: 'PT4H' };
    expect((await call(a.url, admin, 'POST', '/v1/policies', policy)).status).toBe(201);
    requester = token('alice', 'requester', 'helpdesk');
    const grant = await call(a.url, requester, 'POST', '/v1/grants', { deviceId: 'pc-1', reason: 'outage drill', duration: 'PT1H' });
    expect(grant.status).toBe(201);
    grantId = String(grant.body.id);
    expect((await reveal(a.url)).status).toBe(200);
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pg_ctl stop -m immediate while clients reveal in a loop: the daemon stays up, answers 503 (never 500), /readyz 503, and serves again once the cluster is back', async () => {
    const d = daemons[0] as DaemonProcess;
    const seen: Array<{ status: number; type: string; code: unknown }> = [];
    let looping = true;
    const client = async () => {
      while (looping) {
        const r = await reveal(d.url).catch((e: unknown) => ({ status: 0, type: String(e), body: {} as Record<string, unknown> }));
        seen.push({ status: r.status, type: r.type, code: r.body.code });
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      await waitFor('reveals served before the outage', async () => seen.filter((s) => s.status === 200).length >= 8);
      pg.kill();
      const before = seen.length;
      // The daemon used to exit about a second in, when a connection it held between two queries died.
      await waitFor('200 answers while the cluster is down', async () => seen.length - before >= 200 || seen.some((s) => s.status === 0));
      expect(d.proc.exitCode).toBeNull();
      expect(await status(`${d.url}/readyz`)).toBe(503);
      expect(await status(`${d.url}/healthz`)).toBe(200);
      // The scrape still answers (the store-backed gauges read NaN), counting the failed reveals.
      const metrics = await fetch(`${d.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(Number(/^jitbroker_reveals_total\{outcome="unavailable"\} (\d+)$/m.exec(await metrics.text())?.[1])).toBeGreaterThan(0);
      pg.restart();
      await waitFor('/readyz 200 again', async () => (await status(`${d.url}/readyz`)) === 200);
      const after = seen.length;
      await waitFor('reveals served again without a restart', async () => seen.slice(after).filter((s) => s.status === 200).length >= 8);
    } finally {
      looping = false;
      await Promise.all(clients);
    }
    expect(d.proc.exitCode).toBeNull();
    expect(d.output()).not.toMatch(/Emitted 'error' event|Connection terminated unexpectedly\n\s+at /);
    const failed = seen.filter((s) => s.status !== 200);
    expect(new Set(failed.map((s) => s.status))).toEqual(new Set([503]));
    for (const s of failed) {
      expect(s.type).toMatch(/^application\/problem\+json/);
      expect(s.code).toBe('unavailable');
    }
    // Once per cause, not once per failed request.
    const causes = outageCauses(d);
    expect(causes.length).toBeGreaterThan(0);
    expect(causes.length).toBe(new Set(causes).size);
    expect(causes.length).toBeLessThan(failed.length / 4);
  });

  it('a cluster that refuses connections while it starts up (57P03): reveals and /readyz answer 503, not 500', async () => {
    const d = daemons[0] as DaemonProcess;
    pg.kill();
    pg.restart({ refuseConnections: true });
    try {
      const r = await reveal(d.url);
      expect({ status: r.status, type: r.type, code: r.body.code }).toEqual({ status: 503, type: expect.stringMatching(/^application\/problem\+json/), code: 'unavailable' });
      expect(await status(`${d.url}/readyz`)).toBe(503);
      // The daemon's stdout reaches the test on a pipe of its own, maybe after the response.
      await waitFor('57P03 logged as the cause', async () => outageCauses(d).includes('57P03'));
    } finally {
      pg.kill();
      pg.restart();
    }
    await waitFor('/readyz 200 again', async () => (await status(`${d.url}/readyz`)) === 200);
    expect((await reveal(d.url)).status).toBe(200);
    expect(d.proc.exitCode).toBeNull();
  });

  it('a daemon started while its cluster is down listens, answers /healthz 200 and /readyz 503, and becomes ready once the cluster starts', async () => {
    pg.kill();
    const url = new URL(pg.url);
    url.password = 's3cret-in-url';
    const b = await start(url.toString());
    try {
      expect(await status(`${b.url}/healthz`)).toBe(200);
      const ready = await fetch(`${b.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const r = await reveal(b.url);
      expect({ status: r.status, code: r.body.code }).toEqual({ status: 503, code: 'unavailable' });
      await waitFor('the daemon saying it waits for the store', async () => /waiting for the store/.test(b.output()));
      expect(b.output()).toContain(`postgres://postgres:***@127.0.0.1:${url.port}/`);
      expect(b.output()).not.toContain('s3cret-in-url');
    } finally {
      pg.restart();
    }
    await waitFor('/readyz 200 once the cluster is up', async () => (await status(`${b.url}/readyz`)) === 200);
    expect((await reveal(b.url)).status).toBe(200);
    expect(b.proc.exitCode).toBeNull();
  });

  it('serve still refuses a store that answers but cannot be used (no such database), naming it without its password', () => {
    const url = new URL(pg.url);
    url.password = 's3cret-in-url';
    url.pathname = '/no_such_database';
    const refused = runCli(['serve'], { env: { ...env(url.toString()), JITBROKER_PORT: '0' } });
    expect(refused.code).not.toBe(0);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^jitbroker: refusing to start: cannot use the PostgreSQL store /);
    expect(refused.stderr).toContain(`cannot use the PostgreSQL store postgres://postgres:***@127.0.0.1:${url.port}/no_such_database`);
    expect(refused.stderr).not.toContain('s3cret-in-url');
  });
});
