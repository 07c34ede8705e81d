import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { exportJWK, generateKeyPair } from 'jose';
import { Client } from 'pg';
import { knownMigrations, migrate } from '../../src/store/database';
import { openPostgres } from '../../src/store/postgres';
import { signAgentToken } from '../support/agent-token';
import { DaemonProcess, runCli, startDaemonProcess } from '../support/daemon-process';
import { TestPostgres, startPostgres } from '../support/postgres';
import { bearer } from '../support/bearer';

const tables = [
  'devices',
  'policies',
  'grants',
  'credential_versions',
  'rotation_jobs',
  'vault_secrets',
  'agent_tokens',
  'audit_events',
  'escalations',
  'webhook_deliveries',
  'portal_sessions',
  'portal_sign_ins',
];

/** Runs SQL on the test cluster as its superuser. */
async function onPostgres<T>(url: string, work: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

const withDatabase = (url: string, name: string) => url.replace(/\/[^/]+$/, `/${name}`);

/** Calls the daemon's API; anything but the expected status fails loudly. */
async function api(d: DaemonProcess, token: string, method: string, route: string, expected: number, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${d.url}${route}`, {
    method,
    headers: { ...bearer(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * A real store, made by the real daemon over HTTP: laptop-7 enrolled, its agent's first password
 * acknowledged, a designation, alice's grant with a reveal and an early end, an escalation.
 */
async function populate(d: DaemonProcess): Promise<void> {
  const token = (args: string[]) => runCli(['token', ...args], { env: { JITBROKER_DATA_DIR: path.join(d.dir, 'data') }, cwd: d.dir }).stdout.trim();
  const admin = token(['--sub', 'it-admin', '--roles', 'admin,auditor']);
  const alice = token(['--sub', 'alice', '--roles', 'requester', '--groups', 'helpdesk']);
  const pair = await generateKeyPair('ES256', { extractable: true });
  const agent = () => signAgentToken('laptop-7', pair.privateKey);
  await api(d, admin, 'POST', '/v1/devices', 201, { id: 'laptop-7', groups: ['finance-laptops'], agentKey: await exportJWK(pair.publicKey) });
  await api(d, admin, 'POST', '/v1/policies', 201, { name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H' });
  const { version } = await api(d, await agent(), 'GET', '/v1/agent/credential', 200);
  await api(d, await agent(), 'POST', `/v1/agent/credential/${String(version)}/ack`, 204, { result: 'set' });
  const grant = await api(d, alice, 'POST', '/v1/grants', 201, { deviceId: 'laptop-7', reason: 'install printer driver', duration: 'PT1H' });
  await api(d, alice, 'GET', `/v1/grants/${String(grant.id)}/password`, 200);
  await api(d, alice, 'POST', `/v1/grants/${String(grant.id)}/revoke`, 200, { reason: 'driver installed' });
  await api(d, alice, 'POST', '/v1/escalations', 201, { severity: 'C', category: 'hardware', summary: 'Docking station dead' });
}

describe('jitbroker store copy: a SQLite store into PostgreSQL', () => {
  let pg: TestPostgres;
  let d: DaemonProcess;
  let dbFile: string;
  beforeAll(async () => {
    pg = await startPostgres();
    d = await startDaemonProcess();
    try {
      await populate(d);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    dbFile = path.join(d.dir, 'data', 'jitbroker.db');
  }, 60000);
  afterAll(async () => {
    await pg?.stop();
    if (d) fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it('copies every table exactly, in one transaction, and verifies the chain on the target', async () => {
    const migrated = runCli(['migrate', '--store', pg.url]);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(
      /applied 001-initial\napplied 002-rotation\napplied 003-escalations-webhooks\napplied 004-revealed-versions\napplied 005-unpruned-versions\napplied 006-agent-key-thumbprint\napplied 007-grant-coverage\napplied 008-portal-sessions\napplied 009-portal-sign-ins\nschema is current/,
    );

    const r = runCli(['store', 'copy', '--from', `sqlite:${dbFile}`, '--to', pg.url, '--batch-size', '7', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { tables: Record<string, number>; verify: { ok: boolean; events: number; headHash: string } };

    const sqlite = new BetterSqlite3(dbFile, { readonly: true });
    try {
      const count = (t: string) => (sqlite.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      expect(Object.keys(report.tables)).toEqual(tables);
      for (const t of tables) expect(report.tables[t]).toBe(count(t));
      for (const t of ['devices', 'policies', 'grants', 'credential_versions', 'vault_secrets', 'audit_events', 'escalations']) expect(report.tables[t]).toBeGreaterThan(0);
      // more events than one batch of 7: the copy really went batch by batch
      expect(report.tables.audit_events).toBeGreaterThan(7);

      const events = sqlite.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Array<{ seq: number; hash: string }>;
      expect(report.verify).toMatchObject({ ok: true, events: events.length, headHash: events[events.length - 1]?.hash });
      const secrets = sqlite.prepare('SELECT * FROM vault_secrets ORDER BY name, version').all();
      const grants = sqlite.prepare('SELECT * FROM grants ORDER BY id').all();
      await onPostgres(pg.url, async (c) => {
        // seq, prev_hash, hash and the hashed text are the source's, byte for byte
        expect((await c.query('SELECT * FROM audit_events ORDER BY seq')).rows).toEqual(events);
        expect((await c.query('SELECT * FROM vault_secrets ORDER BY name, version')).rows).toEqual(secrets);
        expect((await c.query('SELECT * FROM grants ORDER BY id')).rows).toEqual(grants);
      });
    } finally {
      sqlite.close();
    }

    const verified = runCli(['store', 'verify', '--store', pg.url]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^audit chain in postgres:\/\/postgres@127\.0\.0\.1:\d+\/jitbroker_test: ok: \d+ events, head [0-9a-f]{64}/);
  });

  it('refuses a target that is not empty, and one that is not migrated', async () => {
    const again = runCli(['store', 'copy', '--from', `sqlite:${dbFile}`, '--to', pg.url]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^jitbroker: refusing to copy: the target is not empty: devices \(1\), policies \(1\), grants \(1\)/);

    await onPostgres(pg.url, (c) => c.query('CREATE DATABASE second'));
    const bare = runCli(['store', 'copy', '--from', `sqlite:${dbFile}`, '--to', withDatabase(pg.url, 'second')]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(
      /refusing to copy: the target is not migrated \(missing 001-initial, 002-rotation, 003-escalations-webhooks, 004-revealed-versions, 005-unpruned-versions, 006-agent-key-thumbprint, 007-grant-coverage, 008-portal-sessions, 009-portal-sign-ins\); run jitbroker migrate --store postgres:/,
    );
  });

  it('a source whose chain does not verify is not copied: exit 3, the target stays empty', async () => {
    const edited = path.join(d.dir, 'edited.db');
    fs.copyFileSync(dbFile, edited);
    const sqlite = new BetterSqlite3(edited);
    sqlite.exec('DROP TRIGGER audit_events_no_update');
    sqlite.prepare("UPDATE audit_events SET canonical = replace(canonical, 'printer', 'scanner') WHERE action = 'grant.requested'").run();
    const bad = (sqlite.prepare("SELECT seq FROM audit_events WHERE action = 'grant.requested'").get() as { seq: number }).seq;
    sqlite.close();

    // the database the previous test left unmigrated; migrated here in-process, as the CLI does
    const target = withDatabase(pg.url, 'second');
    const db = openPostgres(target);
    try {
      expect(await migrate(db)).toEqual(knownMigrations);
    } finally {
      await db.destroy();
    }
    const r = runCli(['store', 'copy', '--from', `sqlite:${edited}`, '--to', target]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`jitbroker: copy rolled back, the target is unchanged: the audit chain on the source does not verify: event ${bad}: content does not match its hash\n`);
    const rows = await onPostgres(target, (c) => c.query<{ n: string }>('SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM audit_events) AS n'));
    expect(Number(rows.rows[0]?.n)).toBe(0);
  });

  it('an event edited on the target (triggers disabled by a superuser) fails verification there, naming it', async () => {
    await onPostgres(pg.url, async (c) => {
      // the trigger refuses the edit first
      await expect(c.query("UPDATE audit_events SET actor = 'x' WHERE seq = 3")).rejects.toThrow('audit events are append-only');
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update');
      await c.query('UPDATE audit_events SET canonical = replace(canonical, \'"outcome":"success"\', \'"outcome":"denied"\'), outcome = \'denied\' WHERE seq = 3');
      await c.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update');
    });
    const r = runCli(['store', 'verify', '--store', pg.url, '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'content does not match its hash' });
  });
});
