import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { advisoryKey } from '../../src/store/job-lock';
import { callApi, cleanEnv, cliPath, DaemonProcess, localToken, runCli, startDaemonProcess } from '../support/daemon-process';
import { waitUntil } from '../support/wait-until';
import { TestPostgres, startPostgres } from '../support/postgres';

jest.setTimeout(60000);
const run = promisify(execFile);

/**
 * Several daemons on one PostgreSQL database (store.driver postgres), as separate processes that
 * share one data dir for their keys (identity, vault master, checkpoint), with each device's real
 * agent (jitbroker agent run, file setter) answering whichever daemon: every decision is audited
 * once on one chain that verifies, every rotation job runs once, and a daemon killed while it holds
 * claimed jobs has them finished by another once their lease runs out. Run with three daemons, then two.
 */
describe.each([3, 2])('scale-out: %i daemons on one PostgreSQL database', (count) => {
  let pg: TestPostgres;
  let db: Client;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-scale-'));
  const dataDir = path.join(dir, 'data');
  const daemons: DaemonProcess[] = [];
  const devices = Array.from({ length: 6 }, (_, i) => `pc-${i}`);
  const keyFile = (id: string) => path.join(dir, `${id}.key`);
  const deviceFile = (id: string) => path.join(dir, `${id}.password`);
  let adminToken = '';
  const lease = 4;

  const env = (extra: Record<string, string> = {}) => ({
    JITBROKER_STORE_DRIVER: 'postgres',
    JITBROKER_STORE_URL: pg.url,
    JITBROKER_DATA_DIR: dataDir,
    JITBROKER_ROTATION_WORKER_SECONDS: '1',
    JITBROKER_ROTATION_LEASE: `PT${lease}S`,
    JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '1000000',
    JITBROKER_HTTP_RATE_LIMITS_GRANT_REQUESTS_PER_PRINCIPAL: '1000000',
    JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '1000000',
    ...extra,
  });
  const start = async (extra: Record<string, string> = {}) => {
    const d = await startDaemonProcess({ cwd: fs.mkdtempSync(path.join(dir, 'd-')), env: env(extra) });
    daemons.push(d);
    return d;
  };
  const token = (sub: string, roles: string, groups = '') => localToken(dataDir, sub, roles, groups);
  const call = callApi;
  /** The device's real agent against `base`, once: fetches the pending password, sets it in the device's file, acknowledges it. */
  const ack = async (base: string, id: string) => {
    const before = fs.existsSync(deviceFile(id)) ? fs.readFileSync(deviceFile(id), 'utf8') : undefined;
    await run(process.execPath, [cliPath, 'agent', 'run', '--once', '--url', base, '--device-id', id, '--key', keyFile(id), '--setter', 'file', '--file', deviceFile(id)], {
      env: cleanEnv(),
    });
    if (fs.readFileSync(deviceFile(id), 'utf8') === before) throw new Error(`the agent of ${id} set no new password`);
  };
  const rows = async <T>(text: string, values: unknown[] = []) => (await db.query(text, values)).rows as T[];
  const waitFor = (what: string, check: () => Promise<boolean>, ms = 20000) =>
    waitUntil(what, check, { timeoutMs: ms, intervalMs: 100, detail: () => daemons.map((d) => d.output().slice(-2000)).join('\n---\n') });
  const pendingEverywhere = async () =>
    Number((await rows<{ n: string }>(`SELECT count(DISTINCT device_id) AS n FROM credential_versions WHERE state = 'pending'`))[0]?.n) === devices.length;
  const verify = () => runCli(['store', 'verify', '--store', pg.url, '--json']);

  beforeAll(async () => {
    pg = await startPostgres();
    db = new Client({ connectionString: pg.url });
    await db.connect();
  });
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await db?.end();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // An unreachable database is waited for instead (test/e2e/store-outage.test.ts).
  it('serve refuses an unmigrated database (naming jitbroker migrate); migrate applies the schema', () => {
    const refused = runCli(['serve'], { env: env({ JITBROKER_PORT: '0' }) });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to start: the database schema is older than this build: .*run jitbroker migrate/);
    const migrated = runCli(['migrate', '--store', pg.url]);
    expect(migrated.code).toBe(0);
  });

  it(`${count} daemons take concurrent requests: every decision audited once, one chain that verifies`, async () => {
    const a = await start();
    const all = [a.url];
    for (let i = 1; i < count; i++) all.push((await start()).url);
    adminToken = token('admin-1', 'admin');
    for (const [i, id] of devices.entries()) {
      const keygen = runCli(['agent', 'keygen', '--key', keyFile(id)]);
      expect(keygen.code).toBe(0);
      const r = await call(all[i % all.length] as string, adminToken, 'POST', '/v1/devices', { id, groups: ['fleet'], agentKey: JSON.parse(keygen.stdout) });
      expect(r.status).toBe(201);
    }
    // Each device's agent answers the daemon its device was not enrolled on.
    await Promise.all(devices.map((id, i) => ack(all[(i + 1) % all.length] as string, id)));
    const policy = await call(a.url, adminToken, 'POST', '/v1/policies', {
      name: 'helpdesk-fleet',
      principals: { groups: ['helpdesk'] },
      deviceGroups: ['fleet'],
      maxDuration: 'PT4H',
    });
    expect(policy.status).toBe(201);

    const requesters = ['alice', 'bob', 'carol'].map((sub) => ({ sub, token: token(sub, 'requester', 'helpdesk') }));
    // Every requester asks for every device and reads its password, on whichever daemon, all at once.
    const outcomes = await Promise.all(
      requesters.flatMap((r, ri) =>
        devices.map(async (id, di) => {
          const g = await call(all[(ri + di) % all.length] as string, r.token, 'POST', '/v1/grants', { deviceId: id, reason: 'scale-out', duration: 'PT1H' });
          expect(g.status).toBe(201);
          const reveal = await call(all[(ri + di + 1) % all.length] as string, r.token, 'GET', `/v1/grants/${String(g.body.id)}/password`);
          expect(reveal.status).toBe(200);
          // What the device's agent set, whichever daemon handed it out and whichever reveals it.
          expect(reveal.body.password).toBe(fs.readFileSync(deviceFile(id), 'utf8'));
          return String(g.body.id);
        }),
      ),
    );
    expect(new Set(outcomes).size).toBe(requesters.length * devices.length);
    const perGrant = await rows<{ target: string; action: string; n: string }>(
      `SELECT target, action, count(*) AS n FROM audit_events WHERE target LIKE 'grant:%' GROUP BY target, action`,
    );
    for (const id of outcomes) {
      const mine = perGrant.filter((p) => p.target === `grant:${id}`);
      expect(Object.fromEntries(mine.map((p) => [p.action, Number(p.n)]))).toEqual({ 'grant.requested': 1, 'grant.activated': 1, 'grant.password-revealed': 1 });
    }
    const seqs = await rows<{ n: string; max: number }>(`SELECT count(*) AS n, max(seq) AS max FROM audit_events`);
    expect(Number(seqs[0]?.n)).toBe(seqs[0]?.max);
    const v = verify();
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/"ok":\s*true/);
  });

  it('forced rotations across the daemons: every job runs exactly once', async () => {
    const all = daemons.map((d) => d.url);
    const forced = await Promise.all(devices.map((id, i) => call(all[i % all.length] as string, adminToken, 'POST', `/v1/devices/${id}/rotate`)));
    expect(forced.map((f) => f.status)).toEqual(devices.map(() => 202));
    await waitFor('a pending version on every device', pendingEverywhere);
    const started = await rows<{ device_id: string; n: string }>(
      `SELECT device_id, count(*) AS n FROM audit_events WHERE action = 'credential.rotation-started' GROUP BY device_id ORDER BY device_id`,
    );
    expect(started.map((s) => [s.device_id, Number(s.n)])).toEqual(devices.map((id) => [id, 1]));
    const versions = await rows<{ device_id: string; n: string }>(`SELECT device_id, count(*) AS n FROM credential_versions GROUP BY device_id ORDER BY device_id`);
    expect(versions.map((s) => [s.device_id, Number(s.n)])).toEqual(devices.map((id) => [id, 2]));
    const jobs = await rows<{ outcome: string; n: string }>(`SELECT outcome, count(*) AS n FROM rotation_jobs GROUP BY outcome`);
    expect(jobs.map((j) => [j.outcome, Number(j.n)])).toEqual([['rotated', devices.length]]);
    await Promise.all(devices.map((id, i) => ack(all[i % all.length] as string, id)));
    expect(verify().code).toBe(0);
  });

  it('a daemon killed while it holds claimed jobs: another finishes them once the lease runs out', async () => {
    // Only the daemon that will die runs when the rotations come due, so it claims them all.
    await Promise.all(daemons.splice(0).map((d) => d.stop()));
    const doomed = await start({ JITBROKER_FAILPOINTS: 'rotation.after-vault-write', JITBROKER_ROTATION_CONCURRENCY: '1' });
    // The test holds the worker's job lock (as another daemon would): no daemon runs the worker meanwhile.
    const workerLock = advisoryKey('job:run-rotation-jobs');
    await db.query('SELECT pg_advisory_lock($1::bigint)', [workerLock]);
    const forced = await Promise.all(devices.map((id) => call(doomed.url, adminToken, 'POST', `/v1/devices/${id}/rotate`)));
    expect(forced.map((f) => f.status)).toEqual(devices.map(() => 202));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await rows(`SELECT id FROM rotation_jobs WHERE state = 'open' AND claimed_until IS NOT NULL`)).toEqual([]);
    // Let go: the doomed daemon's next tick claims every due job in one statement and dies in the first.
    await db.query('SELECT pg_advisory_unlock($1::bigint)', [workerLock]);
    const exited = await new Promise<NodeJS.Signals | null>((resolve) => {
      if (doomed.proc.exitCode !== null || doomed.proc.signalCode !== null) resolve(doomed.proc.signalCode);
      else doomed.proc.once('exit', (_c, signal) => resolve(signal));
    });
    expect(exited).toBe('SIGKILL');
    daemons.splice(daemons.indexOf(doomed), 1);
    const claimed = await rows<{ claimed_until: string }>(`SELECT claimed_until FROM rotation_jobs WHERE state = 'open'`);
    expect(claimed).toHaveLength(devices.length);
    expect(claimed.every((c) => c.claimed_until !== null)).toBe(true);
    const leaseEnds = claimed.map((c) => Date.parse(c.claimed_until)).reduce((x, y) => Math.max(x, y));

    const survivor = await start();
    await waitFor('the survivor to rotate every device', pendingEverywhere, 20000);
    // Taken over only after the dead daemon's lease ran out, and each exactly once.
    const second = await rows<{ done_at: string }>(`SELECT done_at FROM rotation_jobs WHERE outcome = 'rotated' ORDER BY done_at DESC LIMIT $1`, [devices.length]);
    expect(second.every((r) => Date.parse(r.done_at) >= leaseEnds)).toBe(true);
    const started = await rows<{ device_id: string; n: string }>(
      `SELECT device_id, count(*) AS n FROM audit_events WHERE action = 'credential.rotation-started' GROUP BY device_id ORDER BY device_id`,
    );
    expect(started.map((s) => [s.device_id, Number(s.n)])).toEqual(devices.map((id) => [id, 2]));
    const versions = await rows<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM credential_versions GROUP BY state ORDER BY state`);
    expect(versions.map((s) => [s.state, Number(s.n)])).toEqual([
      ['current', devices.length],
      ['pending', devices.length],
      ['superseded', devices.length],
    ]);
    await Promise.all(devices.map((id) => ack(survivor.url, id)));
    const v = verify();
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/"ok":\s*true/);
  });
});
