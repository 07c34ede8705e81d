/**
 * The product's invariants on PostgreSQL: the same test bodies that prove them on SQLite, run here
 * with every test app on a fresh database of a PostgreSQL cluster this file starts (see
 * createTestApp in test/support/test-app.ts). Imported suites read JITBROKER_TEST_STORE when their
 * apps are made, in their beforeEach, so setting it here (before any test runs) is enough.
 */
import { createScenario, requestGrant } from '../support/scenario';
import { stopSharedPostgres } from '../support/test-app';
import { isPostgres } from '../../src/store/dialect';
import { withJobLock } from '../../src/store/job-lock';
import { openPostgres } from '../../src/store/postgres';
import { Db } from '../../src/store/database';
import { RotationJob, createRotationJobRepository } from '../../src/credentials/rotation-job-repository';
import { sql } from 'kysely';
import { DomainError } from '../../src/problems/problem';
import { AuditAction } from '../../src/audit/audit-actions';
import { TestApp, admin, createTestApp } from '../support/test-app';
// Grant request → activation audited; reveal audited first; refusals audited and changing nothing.
import '../grants/grant-flow.test';
import '../grants/reveal-access.test';
// Audit before reveal, fail closed: an audit store that refuses appends reveals nothing and changes nothing.
import '../audit/fail-closed.test';
// Two-phase rotation (pending → ack → current, superseded kept), a vault that refuses writes keeps the job queued.
import '../credentials/rotation.test';
import { bearer } from '../support/bearer';

const previous = process.env.JITBROKER_TEST_STORE;
process.env.JITBROKER_TEST_STORE = 'postgres';
afterAll(async () => {
  process.env.JITBROKER_TEST_STORE = previous;
  await stopSharedPostgres();
});

describe('on PostgreSQL', () => {
  it('the apps above really run on PostgreSQL, and the audit chain they leave verifies', async () => {
    const s = await createScenario();
    try {
      expect(isPostgres(s.h.db)).toBe(true);
      expect(s.h.config.store.driver).toBe('postgres');
      const g = await requestGrant(s, s.tokens.alice);
      const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
      expect(res.status).toBe(200);
      expect(await s.h.audit.verify()).toMatchObject({ ok: true });
      // A time-range query reads the whole seq range: PostgreSQL's integer seq takes its bound.
      const all = await s.h.audit.query({ from: '2000-01-01T00:00:00Z', limit: 1000 });
      expect(all.items.length).toBeGreaterThan(3);
      // The leak check reads the database's rows on PostgreSQL (on SQLite, its files).
      await s.h.db.insertInto('agent_tokens').values({ jti: s.password, device_id: 'leak', expires_at: 'x' }).execute();
      await expect(s.h.assertNoSecretLeaked()).rejects.toThrow(/table agent_tokens/);
      await s.h.db.deleteFrom('agent_tokens').where('device_id', '=', 'leak').execute();
    } finally {
      await s.h.close();
    }
  });

  it('concurrent appends and checkpoints from separate transactions form one chain that verifies, signatures included', async () => {
    const s = await createScenario();
    try {
      const before = (await s.h.audit.head()).seq;
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) =>
          s.h.transactor.run((tx) =>
            s.h.audit.append(tx, { actor: { kind: 'system', subject: 'test' }, action: 'test.concurrent' as AuditAction, outcome: 'success', target: `n:${i}` }),
          ),
        ),
        ...Array.from({ length: 4 }, () => s.h.checkpoints.checkpointNow()),
      ]);
      expect((await s.h.audit.head()).seq).toBe(before + 44);
      expect(await s.h.audit.verify({ checkpointKey: s.h.checkpointSigner.publicKey })).toMatchObject({ ok: true });
    } finally {
      await s.h.close();
    }
  });

  it('concurrent requests race safely: one open grant per requester and device, one acknowledgement per version', async () => {
    const s = await createScenario();
    try {
      const tries = await Promise.all(
        Array.from({ length: 5 }, () => s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'race', duration: 'PT1H' })),
      );
      expect(tries.map((t) => t.status).sort()).toEqual([201, 409, 409, 409, 409]);
      expect((await s.h.audit.query({ action: 'grant.activated', limit: 10 })).items).toHaveLength(1);

      await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send().expect(202);
      expect(await s.h.rotations.runDueJobs()).toBe(1);
      const ctx = { requestId: 'race' };
      const pending = await s.h.rotations.fetchPending('laptop-7', ctx);
      const acks = await Promise.allSettled(Array.from({ length: 4 }, () => s.h.rotations.acknowledge('laptop-7', pending?.version as number, 'set', undefined, ctx)));
      expect(acks.map((a) => a.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
      const acked = await s.h.audit.query({ action: 'credential.acknowledged', deviceId: 'laptop-7', limit: 10 });
      expect(acked.items.filter((e) => e.target === `version:${String(pending?.version)}`)).toHaveLength(1);
      const states = await s.h.db.selectFrom('credential_versions').select(['version', 'state']).where('device_id', '=', 'laptop-7').orderBy('version').execute();
      expect(states).toEqual([
        { version: 1, state: 'superseded' },
        { version: 2, state: 'current' },
      ]);
      expect(await s.h.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await s.h.close();
    }
  });

  it('the transactor maps PostgreSQL errors as on SQLite, and runs a unit that lost an insert race again', async () => {
    const h = await createTestApp();
    try {
      // The append-only trigger refuses: fails closed as 'unavailable'.
      await h.transactor.run((tx) => h.audit.append(tx, { actor: { kind: 'system', subject: 'test' }, action: 'test.event' as AuditAction, outcome: 'success' }));
      const refused = h.transactor.run((tx) => tx.updateTable('audit_events').set({ actor: 'someone-else' }).execute());
      await expect(refused).rejects.toBeInstanceOf(DomainError);
      await expect(refused).rejects.toMatchObject({ code: 'unavailable' });
      // A unique violation: the unit runs again in a new transaction and sees the committed row.
      await h.transactor.run((tx) => tx.insertInto('agent_tokens').values({ jti: 'dup', device_id: 'd', expires_at: 'x' }).execute());
      let attempts = 0;
      const result = await h.transactor.run(async (tx) => {
        attempts += 1;
        if (attempts === 1) await tx.insertInto('agent_tokens').values({ jti: 'dup', device_id: 'd', expires_at: 'x' }).execute();
        return (await tx.selectFrom('agent_tokens').select('jti').where('jti', '=', 'dup').executeTakeFirst())?.jti;
      });
      expect({ attempts, result }).toEqual({ attempts: 2, result: 'dup' });
      // One that keeps conflicting gives up after a few attempts, as 'unavailable'.
      attempts = 0;
      const always = h.transactor.run(async (tx) => {
        attempts += 1;
        await tx.insertInto('agent_tokens').values({ jti: 'dup', device_id: 'd', expires_at: 'x' }).execute();
      });
      await expect(always).rejects.toMatchObject({ code: 'unavailable' });
      expect(attempts).toBe(5);
    } finally {
      await h.close();
    }
  });

  /** `n` enrolled devices, each with an open rotation job due now; their job ids. */
  async function dueJobs(h: TestApp, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `pc-${String(i).padStart(3, '0')}`;
      await h.devices.enrolDevice(
        { kind: 'user', subject: admin.sub, roles: admin.roles, groups: [] },
        { id, groups: ['fleet'], agentKey: (await h.deviceKey()).publicJwk as never },
        { requestId: 't' },
      );
      ids.push(await h.transactor.run((tx) => h.rotations.enqueue(tx, id, 'manual', h.clock.now())));
    }
    return ids.sort();
  }

  /** "waiting" once a backend of this database waits on a lock; "settled" if `settled` ends first (it never waited). */
  async function waitingOnLock(watch: Db, settled: Promise<unknown>): Promise<'waiting' | 'settled'> {
    let done = false;
    void settled.then(
      () => (done = true),
      () => (done = true),
    );
    for (;;) {
      if (done) return 'settled';
      const r = await sql<{ n: string }>`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(watch);
      if (Number(r.rows[0]?.n ?? 0) > 0) return 'waiting';
    }
  }

  it('a daemon claiming rotation jobs skips the rows another is claiming at that moment: it neither waits nor takes them twice', async () => {
    const h = await createTestApp();
    const url = h.config.store.url as string;
    const [a, b] = [openPostgres(url), openPostgres(url)];
    let releaseA: () => void = () => undefined;
    const aMayCommit = new Promise<void>((r) => (releaseA = r));
    let aDone: Promise<void> = Promise.resolve();
    try {
      const all = await dueJobs(h, 30);
      const jobs = createRotationJobRepository(h.db);
      const now = h.clock.now().toISOString();
      const until = new Date(h.clock.now().getTime() + 300_000).toISOString();
      let aClaimed: (ids: RotationJob[]) => void = () => undefined;
      const aHolds = new Promise<RotationJob[]>((r) => (aClaimed = r));
      // Daemon A claims a page and has not committed yet: its rows are locked.
      aDone = a.transaction().execute(async (tx) => {
        aClaimed(await jobs.claimDue(tx, now, until, 10));
        await aMayCommit;
      });
      const fromA = (await aHolds).map((j) => j.id);
      expect(fromA).toHaveLength(10);
      // Daemon B claims meanwhile: it must take the other rows at once, not wait for A and then take A's too.
      const bDone = b.transaction().execute((tx) => jobs.claimDue(tx, now, until, 100));
      const bWaited = await waitingOnLock(h.db, bDone);
      releaseA();
      await aDone;
      const fromB = (await bDone).map((j) => j.id);
      expect(bWaited).toBe('settled');
      expect(fromB.filter((id) => fromA.includes(id))).toEqual([]);
      expect([...fromA, ...fromB].sort()).toEqual(all);
    } finally {
      releaseA();
      await aDone.catch(() => undefined);
      await Promise.all([a.destroy(), b.destroy()]);
      await h.close();
    }
  });

  it('workers on two pools draining the rotation queue at once claim every due job exactly once', async () => {
    const h = await createTestApp();
    const url = h.config.store.url as string;
    const pools = [openPostgres(url, { maxConnections: 3 }), openPostgres(url, { maxConnections: 3 })];
    try {
      const all = await dueJobs(h, 60);
      const jobs = createRotationJobRepository(h.db);
      const now = h.clock.now().toISOString();
      const until = new Date(h.clock.now().getTime() + 300_000).toISOString();
      const claims: string[] = [];
      // Three workers per pool, small pages, each claim its own transaction: claims overlap in time.
      const worker = async (pool: Db) => {
        for (;;) {
          const page = await pool.transaction().execute((tx) => jobs.claimDue(tx, now, until, 3));
          if (page.length === 0) return;
          // A claim takes at most its page: the limit holds however many jobs are due.
          expect(page.length).toBeLessThanOrEqual(3);
          claims.push(...page.map((j) => j.id));
        }
      };
      await Promise.all(pools.flatMap((pool) => [worker(pool), worker(pool), worker(pool)]));
      expect(claims.sort()).toEqual(all);
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
      await h.close();
    }
  });

  it('withJobLock runs a job on one holder at a time and skips the tick elsewhere', async () => {
    const h = await createTestApp();
    try {
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      const first = withJobLock(h.db, 'test-job', async () => {
        await held;
        return 'first';
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(await withJobLock(h.db, 'test-job', async () => 'second')).toBeUndefined();
      expect(await withJobLock(h.db, 'other-job', async () => 'other')).toBe('other');
      release();
      expect(await first).toBe('first');
      expect(await withJobLock(h.db, 'test-job', async () => 'third')).toBe('third');
    } finally {
      await h.close();
    }
  });
});
