import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { Client } from 'pg';
import { callApi, cleanEnv, cliPath, DaemonProcess, localToken, runCli, startDaemonProcess } from '../support/daemon-process';
import { TestPostgres, startPostgres } from '../support/postgres';
import { waitUntil } from '../support/wait-until';

jest.setTimeout(90000);
const run = promisify(execFile);

/** Runs chattr, loudly: the test needs root (CAP_LINUX_IMMUTABLE) and a file system with inode flags (ext4, xfs, btrfs). */
function chattr(flag: '+i' | '-i', file: string): void {
  const r = spawnSync('chattr', [flag, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chattr ${flag} ${file} failed (${r.error?.message ?? r.stderr}): this test needs root and a file system with inode flags`);
}

/** A daemon child process with a device whose agent set its password, a policy, and a grant of alice's that reveals it. */
interface Fixture {
  d: DaemonProcess;
  dataDir: string;
  grantId: string;
  requester: string;
  /** The device's password, as its agent's file setter wrote it. */
  password: string;
  auditor: string;
}

async function startWithRevealableGrant(dir: string, env: Record<string, string>): Promise<Fixture> {
  const dataDir = path.join(dir, 'data');
  const d = await startDaemonProcess({
    cwd: fs.mkdtempSync(path.join(dir, 'd-')),
    env: { JITBROKER_DATA_DIR: dataDir, JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '1000000', JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '1000000', ...env },
  });
  const admin = localToken(dataDir, 'admin-1', 'admin');
  const keyFile = path.join(dir, 'pc-1.key');
  const keygen = runCli(['agent', 'keygen', '--key', keyFile]);
  expect(keygen.code).toBe(0);
  expect((await callApi(d.url, admin, 'POST', '/v1/devices', { id: 'pc-1', groups: ['fleet'], agentKey: JSON.parse(keygen.stdout) })).status).toBe(201);
  const deviceFile = path.join(dir, 'pc-1.password');
  await run(process.execPath, [cliPath, 'agent', 'run', '--once', '--url', d.url, '--device-id', 'pc-1', '--key', keyFile, '--setter', 'file', '--file', deviceFile], {
    env: cleanEnv(),
  });
  const policy = { name: 'helpdesk-fleet', principals: { groups: ['helpdesk'] }, deviceGroups: ['fleet'], maxDuration: 'PT4H' };
  expect((await callApi(d.url, admin, 'POST', '/v1/policies', policy)).status).toBe(201);
  const requester = localToken(dataDir, 'alice', 'requester', 'helpdesk');
  const grant = await callApi(d.url, requester, 'POST', '/v1/grants', { deviceId: 'pc-1', reason: 'store fault drill', duration: 'PT1H' });
  expect(grant.status).toBe(201);
  const password = fs.readFileSync(deviceFile, 'utf8').trim();
  expect(password.length).toBeGreaterThan(8);
  return { d, dataDir, grantId: String(grant.body.id), requester, password, auditor: localToken(dataDir, 'auditor-1', 'auditor') };
}

/** The daemon's log lines that say the store is unavailable: their causes, in order. */
const outageCauses = (d: DaemonProcess) =>
  d
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"the store is unavailable'))
    .map((l) => (JSON.parse(l) as { cause: string }).cause);

async function commitFailures(d: DaemonProcess, code: string): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const m = new RegExp(`^jitbroker_store_commit_failures_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const readyz = async (d: DaemonProcess) => (await fetch(`${d.url}/readyz`)).status;

/**
 * What every fault that stops commits must give, through the real daemon: with the store broken,
 * reveals answer 503 `unavailable` (never 500, never the password); the write's own cause is
 * logged once for all of them (never the rollback's "cannot rollback"); each failed commit is
 * counted under its cause in /metrics; /readyz is 503 while commits fail. Once repaired, readiness
 * finds out by itself (its audited write probe) and reveals answer 200 again. `alsoLogged`: the
 * causes a fault may bring besides its own (connections cut by a fail-over and by the fail-back).
 */
async function proveWriteFault(
  f: Fixture,
  fault: { cause: string; alsoLogged?: RegExp; breakStore: () => Promise<void>; repair: () => Promise<void>; whileBroken?: () => Promise<void> },
) {
  const { cause } = fault;
  const ofThisFault = (c: unknown) => c === cause || (typeof c === 'string' && fault.alsoLogged?.test(c) === true);
  const { d } = f;
  const reveal = () => callApi(d.url, f.requester, 'GET', `/v1/grants/${f.grantId}/password`);
  const detail = () => d.output().slice(-4000);
  const waitFor = (what: string, check: () => Promise<boolean> | boolean) => waitUntil(what, check, { timeoutMs: 20000, intervalMs: 100, detail });
  expect((await reveal()).status).toBe(200);
  const countBefore = new Map<string, number>();
  await fault.breakStore();
  let repaired = false;
  try {
    const failed: Array<Awaited<ReturnType<typeof reveal>>> = [];
    // A full store may still fit a few events in its last pages: reveal until eight have failed.
    for (let i = 0; i < 400 && failed.length < 8; i++) {
      const r = await reveal();
      if (r.status !== 200) failed.push(r);
    }
    expect(failed).toHaveLength(8);
    for (const r of failed) {
      expect({ status: r.status, type: r.type, code: r.body.code }).toEqual({ status: 503, type: expect.stringMatching(/^application\/problem\+json/), code: 'unavailable' });
      expect(JSON.stringify(r.body)).not.toContain(f.password);
    }
    expect(await readyz(d)).toBe(503);
    expect(await readyz(d)).toBe(503);
    await fault.whileBroken?.();
    // The daemon's stdout reaches the test on a pipe of its own, maybe after the responses.
    await waitFor('the cause logged', () => outageCauses(d).includes(cause));
    const causes = outageCauses(d);
    // Once per cause for eight failed reveals and as many readiness probes, not once per request.
    expect(causes.filter((c) => c === cause)).toHaveLength(1);
    expect(causes.length).toBe(new Set(causes).size);
    expect(causes.filter((c) => !ofThisFault(c))).toEqual([]);
    expect(d.output()).not.toContain('cannot rollback');
    expect(d.output()).not.toContain(f.password);
    countBefore.set(cause, await commitFailures(d, cause));
    expect(countBefore.get(cause)).toBeGreaterThanOrEqual(1);

    await fault.repair();
    repaired = true;
    // No reveal needs to come first: readiness writes a probe itself (or a job's write commits), and so finds the store takes writes again.
    await waitFor('/readyz 200 once the store takes writes', async () => (await readyz(d)) === 200);
    // It names the last cause of the failed commits: on PostgreSQL that may be the fail-back's cut connection.
    const commitsAgain = () =>
      d
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"the store commits again"'))
        .map((l) => JSON.parse(l) as { cause: string; failedCommits: number });
    await waitFor('the daemon saying the store commits again', () => commitsAgain().length > 0);
    expect(commitsAgain()[0]?.failedCommits).toBeGreaterThanOrEqual(1);
    expect(ofThisFault(commitsAgain()[0]?.cause)).toBe(true);
    expect((await reveal()).status).toBe(200);
    const probes = (await callApi(d.url, f.auditor, 'GET', '/v1/audit/events?action=store.write-probe')).body.items as Array<{ outcome: string; details: { code?: string } }>;
    // Readiness's own probe, unless a background job's write committed first (the in-process test pins the probe down).
    expect(probes.length).toBeLessThanOrEqual(1);
    for (const p of probes) expect({ outcome: p.outcome, ofThisFault: ofThisFault(p.details.code) }).toEqual({ outcome: 'success', ofThisFault: true });
    expect(outageCauses(d).filter((c) => c === cause)).toHaveLength(1);
    expect(d.proc.exitCode).toBeNull();
    return { cause, failed: failed.length, counted: countBefore.get(cause) as number };
  } finally {
    if (!repaired) await fault.repair();
  }
}

describe('a SQLite store that stops taking writes under the running daemon', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-write-faults-'));
  const daemons: DaemonProcess[] = [];
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async (env: Record<string, string> = {}) => {
    const f = await startWithRevealableGrant(fs.mkdtempSync(path.join(dir, 's-')), env);
    daemons.push(f.d);
    return f;
  };

  it('turns read-only (its WAL made immutable, as a file system remounted read-only after errors): SQLITE_IOERR_WRITE logged once, counted, 503, /readyz 503, then recovers', async () => {
    const f = await start();
    const wal = path.join(f.dataDir, 'jitbroker.db-wal');
    expect(fs.existsSync(wal)).toBe(true);
    // Writes through the daemon's open file fail with EPERM, as with EROFS: SQLite reports an I/O error on
    // the write, not SQLITE_READONLY (which it gives only for a connection it opened read-only).
    const r = await proveWriteFault(f, { cause: 'SQLITE_IOERR_WRITE', breakStore: async () => chattr('+i', wal), repair: async () => chattr('-i', wal) });
    expect(r.counted).toBeGreaterThanOrEqual(r.failed);
  });

  it('fills up to store.maxSizeMebibytes: SQLITE_FULL logged once, counted, 503, /readyz 503; once pages are freed it takes writes again', async () => {
    const f = await start({ JITBROKER_STORE_MAX_SIZE_MEBIBYTES: '1' });
    const file = path.join(f.dataDir, 'jitbroker.db');
    const capPages = (1024 * 1024) / 4096;
    // Something else fills the store up to the same cap (another writer of the file, as another tenant of a
    // volume fills a disk): the daemon's next writes that need a page of their own are refused.
    const fill = async () => {
      const other = new BetterSqlite3(file);
      try {
        other.pragma('busy_timeout = 5000');
        other.pragma('synchronous = OFF');
        other.pragma(`max_page_count = ${capPages}`);
        other.exec('CREATE TABLE ballast (b BLOB)');
        const insert = other.prepare('INSERT INTO ballast VALUES (randomblob(3000))');
        let full: unknown;
        for (let i = 0; i < 2 * capPages && !full; i++) {
          try {
            insert.run();
          } catch (e) {
            full = e;
          }
        }
        expect((full as { code?: string } | undefined)?.code).toBe('SQLITE_FULL');
        expect(Number(other.pragma('page_count', { simple: true }))).toBe(capPages);
      } finally {
        other.close();
      }
    };
    const free = async () => {
      const other = new BetterSqlite3(file);
      try {
        other.pragma('busy_timeout = 5000');
        other.exec('DROP TABLE IF EXISTS ballast');
        expect(Number(other.pragma('freelist_count', { simple: true }))).toBeGreaterThan(10);
      } finally {
        other.close();
      }
    };
    const r = await proveWriteFault(f, { cause: 'SQLITE_FULL', breakStore: fill, repair: free });
    expect(r.counted).toBeGreaterThanOrEqual(r.failed);
    // The cap held: the file never grew past it (the WAL aside).
    const check = new BetterSqlite3(file, { readonly: true });
    try {
      expect(Number(check.pragma('page_count', { simple: true }))).toBeLessThanOrEqual(capPages);
    } finally {
      check.close();
    }
  });

  it('starts on a store already larger than store.maxSizeMebibytes, saying so, and serves', async () => {
    const f = await start();
    await f.d.stop();
    const file = path.join(f.dataDir, 'jitbroker.db');
    const other = new BetterSqlite3(file);
    other.exec('CREATE TABLE ballast (b BLOB)');
    other.prepare('INSERT INTO ballast SELECT randomblob(1024 * 1024) FROM (SELECT 1 UNION ALL SELECT 2)').run();
    const filePages = Number(other.pragma('page_count', { simple: true }));
    other.close();
    const d = await startDaemonProcess({ cwd: fs.mkdtempSync(path.join(dir, 'd-')), env: { JITBROKER_DATA_DIR: f.dataDir, JITBROKER_STORE_MAX_SIZE_MEBIBYTES: '1' } });
    daemons.push(d);
    await waitUntil('the warning', () => d.output().includes('already larger than store.maxSizeMebibytes'), { detail: () => d.output() });
    const line = d
      .output()
      .split('\n')
      .find((l) => l.includes('already larger than store.maxSizeMebibytes')) as string;
    expect(JSON.parse(line)).toMatchObject({ level: 40, maxSizeMebibytes: 1, pages: 256, filePages });
    expect(await readyz(d)).toBe(200);
  });
});

/**
 * The same on PostgreSQL: the daemon's database fails over to a node that takes no writes
 * (default_transaction_read_only, and its connections cut, as a fail-over cuts them), then back.
 */
describe('a PostgreSQL store that stops taking writes under the running daemon', () => {
  let pg: TestPostgres;
  let admin: Client;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-write-faults-pg-'));
  let f: Fixture | undefined;
  beforeAll(async () => {
    pg = await startPostgres();
    expect(runCli(['migrate', '--store', pg.url]).code).toBe(0);
    admin = new Client({ connectionString: pg.url });
    await admin.connect();
  });
  afterAll(async () => {
    await f?.d.stop('SIGKILL');
    await admin?.end();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const database = () => new URL(pg.url).pathname.slice(1);
  /** Cuts every connection of the daemon's: it reconnects, and so gets what new sessions get now. */
  const cutConnections = async () => {
    const r = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database()]);
    expect(r.rowCount).toBeGreaterThan(0);
  };

  it('fails over to a read-only node: 25006 logged once, counted, 503, /readyz 503; back on a writable one it recovers', async () => {
    f = await startWithRevealableGrant(dir, { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: pg.url });
    const r = await proveWriteFault(f, {
      cause: '25006',
      // The fail-over and the fail-back cut the daemon's connections: a statement in flight is told so (57P01), others find them gone.
      alsoLogged: /^(57P01|connection-lost|ECONNRESET|EPIPE)$/,
      breakStore: async () => {
        await admin.query(`ALTER DATABASE "${database()}" SET default_transaction_read_only = on`);
        await cutConnections();
      },
      repair: async () => {
        await admin.query(`ALTER DATABASE "${database()}" RESET default_transaction_read_only`);
        await cutConnections();
      },
      // Not only a reveal, whose audit event fails: any write refused by the node is 503 too, never 500.
      whileBroken: async () => {
        const fx = f as Fixture;
        const bob = localToken(fx.dataDir, 'bob', 'requester', 'helpdesk');
        const g = await callApi(fx.d.url, bob, 'POST', '/v1/grants', { deviceId: 'pc-1', reason: 'during the fail-over', duration: 'PT1H' });
        expect({ status: g.status, code: g.body.code }).toEqual({ status: 503, code: 'unavailable' });
      },
    });
    // Some reveals may have failed on a connection cut under them (logged as their own cause) rather than on 25006.
    expect(r.counted).toBeGreaterThanOrEqual(1);
  });
});
