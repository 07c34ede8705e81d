import { CompiledQuery, RootOperationNode, createQueryId, sql } from 'kysely';
import { createCredentialRepository } from '../../src/credentials/credential-repository';
import { createRotationJobRepository } from '../../src/credentials/rotation-job-repository';
import { createDeviceRepository } from '../../src/devices/device-repository';
import { createGrantRepository } from '../../src/grants/grant-repository';
import { Db } from '../../src/store/database';
import { UserPrincipal } from '../../src/identity/principal';
import { TestApp, createTestApp } from '../support/test-app';

// The fleet-scale rotation tests (SQLite: the query plan is SQLite's), apart from rotation.test.ts,
// whose single-device tests also run on PostgreSQL (test/store/invariants-postgres.test.ts).
const admin: UserPrincipal = { kind: 'user', subject: 'admin-1', roles: ['admin'], groups: [] };
const ctx = { requestId: 'test' };

/** Plays every device's agent: fetch what is pending, acknowledge it as set. */
async function ackAll(h: TestApp, ids: readonly string[]): Promise<number> {
  let n = 0;
  for (const id of ids) {
    const p = await h.rotations.fetchPending(id, ctx);
    if (!p) continue;
    await h.rotations.acknowledge(id, p.version, 'set', undefined, ctx);
    n += 1;
  }
  return n;
}

/**
 * SQLite's plan for the query a repository call really sends: the call runs on a view of the store
 * that records the query it builds, and that query (SQL and parameters) is explained.
 */
async function planOf(h: TestApp, call: (db: Db) => Promise<unknown>): Promise<string> {
  return (await sentAndPlan(h, call)).plan;
}

/** The SQL a repository call sends and SQLite's plan for it. A query prepared once (prepareQuery) is recorded when the call first compiles it. */
async function sentAndPlan(h: TestApp, call: (db: Db) => Promise<unknown>): Promise<{ sql: string; plan: string }> {
  const sent: RootOperationNode[] = [];
  const recording = h.db.withPlugin({
    transformQuery: ({ node }) => {
      sent.push(node);
      return node;
    },
    transformResult: async ({ result }) => result,
  });
  await call(recording);
  expect(sent).toHaveLength(1);
  const query = recording.getExecutor().compileQuery(sent[0] as RootOperationNode, createQueryId());
  // A prepared query's parameters are stand-ins until it runs; the plan does not depend on their values.
  const values = query.parameters.map((v) => (typeof v === 'object' && v !== null ? null : v));
  const plan = await h.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${query.sql}`, values));
  return { sql: query.sql, plan: plan.rows.map((r) => r.detail).join('\n') };
}

async function drain(h: TestApp): Promise<void> {
  while ((await h.rotations.runDueJobs()) > 0);
}

describe('scheduled rotation across a fleet', () => {
  let h: TestApp;
  const ids = Array.from({ length: 1000 }, (_, i) => `pc-${String(i).padStart(4, '0')}`);
  beforeAll(async () => {
    h = await createTestApp();
    // One key per device: an agent key enrols one device only.
    for (const id of ids) await h.devices.enrolDevice(admin, { id, groups: ['fleet'], agentKey: (await h.deviceKey()).publicJwk as never }, ctx);
    expect(await ackAll(h, ids)).toBe(1000);
  }, 120000);
  afterAll(async () => {
    await h.close();
  });

  it('spreads next due times over the jitter window', async () => {
    const rows = await h.db.selectFrom('devices').select('next_due').execute();
    const due = rows.map((r) => Date.parse(r.next_due as string) - h.clock.now().getTime());
    expect(Math.min(...due)).toBeGreaterThanOrEqual(0.8 * 4 * 3600 * 1000);
    expect(Math.max(...due)).toBeLessThanOrEqual(4 * 3600 * 1000);
    expect(Math.max(...due) - Math.min(...due)).toBeGreaterThan(0.15 * 4 * 3600 * 1000);
  });

  it('finds due devices through the next_due index, not a scan of the fleet', async () => {
    const plan = await planOf(h, (db) => createDeviceRepository(db).dueForRotation(db, h.clock.now().toISOString(), 100));
    expect(plan).toMatch(/USING INDEX devices_next_due \(next_due<\?\)/);
    expect(plan).not.toMatch(/SCAN devices|TEMP B-TREE/);
  });

  it('the worker finds due jobs through the (state, due_at) index, not a scan of the queue', async () => {
    const plan = await planOf(h, (db) => createRotationJobRepository(db).due(db, h.clock.now().toISOString(), 500));
    expect(plan).toMatch(/USING INDEX rotation_jobs_state_due \(state=\? AND due_at<\?\)/);
    expect(plan).not.toMatch(/SCAN rotation_jobs|TEMP B-TREE/);
  });

  it('counts ack-overdue devices (a /metrics gauge, scraped every few seconds) from the pending versions alone, not the fleet', async () => {
    const plan = await planOf(h, (db) => createCredentialRepository(db).countAckOverdue(db, h.clock.now().toISOString()));
    // The partial index holds only pending versions (at most one per device, most devices none).
    expect(plan.split('\n')).toEqual(['SCAN cv USING INDEX credential_versions_one_pending', 'SEARCH d USING INDEX sqlite_autoindex_devices_1 (id=?)']);
  });

  it("a reveal reads a device's current and pending versions by their partial indexes, not every version the device ever had", async () => {
    const { plan } = await sentAndPlan(h, (db) => createGrantRepository(db).findForReveal(db, 'no-such-grant'));
    expect(plan).toMatch(/MULTI-INDEX OR/);
    expect(plan).toMatch(/SEARCH cv USING INDEX credential_versions_one_current \(device_id=\?\)/);
    expect(plan).toMatch(/SEARCH cv USING INDEX credential_versions_one_pending \(device_id=\?\)/);
    // The primary key (device_id, version) would walk the device's whole history.
    expect(plan).not.toMatch(/sqlite_autoindex_credential_versions_1/);
  });

  it('an agent poll asks for the pending version with the state written into the SQL, so SQLite plans it once for the partial index', async () => {
    const { sql: text, plan } = await sentAndPlan(h, (db) => createCredentialRepository(db).pending(db, 'pc-0001'));
    expect(text).toMatch(/"state" = 'pending'/);
    expect(plan).toBe('SEARCH credential_versions USING INDEX credential_versions_one_pending (device_id=?)');
  });

  it("pruning after a rotation reads only the versions still in the vault, not the device's whole history", async () => {
    const plan = await planOf(h, (db) => createCredentialRepository(db).beyondHistory(db, 'pc-0001', 5));
    expect(plan).toMatch(/^SEARCH credential_versions USING INDEX credential_versions_unpruned \(device_id=\?\)$/);
  });

  it('rotates every device exactly once when maxAge has passed, and then none until the next', async () => {
    expect(await h.rotations.enqueueDueRotations()).toBe(0);
    h.clock.advance(4 * 3600 * 1000 + 1000);
    expect(await h.rotations.enqueueDueRotations()).toBe(1000);
    expect(await h.rotations.enqueueDueRotations()).toBe(0);
    await drain(h);
    expect(await ackAll(h, ids)).toBe(1000);
    const versions = await h.db
      .selectFrom('credential_versions')
      .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
      .groupBy('state')
      .execute();
    expect(Object.fromEntries(versions.map((v) => [v.state, Number(v.n)]))).toEqual({ current: 1000, superseded: 1000 });
    const started = await sql<{ n: number }>`SELECT count(*) AS n FROM audit_events WHERE action = 'credential.rotation-started'`.execute(h.db);
    expect(started.rows[0]?.n).toBe(1000);
    expect(await h.rotations.enqueueDueRotations()).toBe(0);
  }, 120000);
});
