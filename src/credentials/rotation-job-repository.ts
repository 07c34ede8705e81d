import { Kysely } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { Database, RotationJobTable } from '../store/schema';
import { timeOrderedId } from '../store/ids';
import { isPostgres } from '../store/dialect';
import { Transactor } from '../store/transactor';

type Q = Kysely<Database>;

function jobFromRow(r: RotationJobTable): RotationJob {
  return {
    id: r.id,
    deviceId: r.device_id,
    reason: r.reason,
    dueAt: r.due_at,
    attempts: r.attempts,
    lastError: r.last_error,
    state: r.state,
    createdAt: r.created_at,
    claimedUntil: r.claimed_until,
    doneAt: r.done_at,
    outcome: r.outcome,
  };
}
import { RotationReason } from './credential-version';
import { RotationJob } from './rotation';

export type { RotationReason, RotationJob };

/**
 * The claim of a page of due jobs on PostgreSQL (exported for its query-plan test). The page is a
 * MATERIALIZED CTE, chosen once: as a plain `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` the
 * planner ran the sub-select again for every outer row, each run skipping the rows the statement
 * had just updated and taking the next n, so one claim took every due job, whatever the limit.
 */
export function claimDueQuery(q: Q, now: string, until: string, limit: number) {
  return q
    .with(
      (w) => w('due_page').materialized(),
      (d) =>
        d
          .selectFrom('rotation_jobs')
          .select('id')
          .where('state', '=', 'open')
          .where('due_at', '<=', now)
          .where((w) => w.or([w('claimed_until', 'is', null), w('claimed_until', '<', now)]))
          .orderBy('due_at')
          .limit(limit)
          .forUpdate()
          .skipLocked(),
    )
    .updateTable('rotation_jobs')
    .from('due_page')
    .set({ claimed_until: until })
    .whereRef('rotation_jobs.id', '=', 'due_page.id')
    .where('rotation_jobs.state', '=', 'open')
    .returningAll('rotation_jobs');
}

/** The durable rotation queue: at most one open job per device (a unique index keeps it so). */
export function createRotationJobRepository(db: Q) {
  const pg = isPostgres(db);
  // A fleet coming due queues thousands of jobs in a row: these are prepared once.
  const openOf = prepareQuery(db, (d, p: { deviceId: string }) => d.selectFrom('rotation_jobs').selectAll().where('device_id', '=', p.deviceId).where('state', '=', 'open'));
  const insertJob = prepareQuery(db, (d, p: { id: string; deviceId: string; reason: RotationReason; dueAt: string; createdAt: string }) =>
    d.insertInto('rotation_jobs').values({
      id: p.id,
      device_id: p.deviceId,
      reason: p.reason,
      due_at: p.dueAt,
      attempts: 0,
      last_error: null,
      state: 'open',
      created_at: p.createdAt,
      claimed_until: null,
      done_at: null,
      outcome: null,
    }),
  );
  /** Open jobs that are due and not held by a live claim, earliest first (the (state, due_at) index). */
  async function due(q: Q, now: string, limit: number): Promise<RotationJob[]> {
    return q
      .selectFrom('rotation_jobs')
      .selectAll()
      .where('state', '=', 'open')
      .where('due_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('due_at')
      .limit(limit)
      .execute()
      .then((rows) => rows.map(jobFromRow));
  }
  /** Takes the jobs of a page for `until` in one statement; returns the ids it got (another worker may hold some). */
  async function claimMany(q: Q, ids: readonly string[], now: string, until: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await q
      .updateTable('rotation_jobs')
      .set({ claimed_until: until })
      .where('id', 'in', [...ids])
      .where('state', '=', 'open')
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }
  return {
    async openFor(q: Q, deviceId: string): Promise<RotationJob | undefined> {
      const [r] = await openOf(q, { deviceId });
      return r ? jobFromRow(r) : undefined;
    },
    async insert(q: Q, deviceId: string, reason: RotationReason, dueAt: string, createdAt: string): Promise<string> {
      const id = timeOrderedId();
      await insertJob(q, { id, deviceId, reason, dueAt, createdAt });
      return id;
    },
    /** Changes an open job and lets go of its claim. */
    async reschedule(q: Q, id: string, set: Partial<Pick<RotationJob, 'dueAt' | 'reason' | 'attempts' | 'lastError'>>): Promise<void> {
      await q
        .updateTable('rotation_jobs')
        .set({ due_at: set.dueAt, reason: set.reason, attempts: set.attempts, last_error: set.lastError, claimed_until: null })
        .where('id', '=', id)
        .where('state', '=', 'open')
        .execute();
    },
    due,
    claimMany,
    /**
     * PostgreSQL, several daemons: takes up to `limit` due jobs no live claim holds for `until`, in
     * one statement, skipping rows another daemon is claiming at this moment (FOR UPDATE SKIP
     * LOCKED) instead of waiting on them. A claim whose lease ran out (its daemon died) is taken over.
     */
    async claimDue(q: Q, now: string, until: string, limit: number): Promise<RotationJob[]> {
      return (await claimDueQuery(q, now, until, limit).execute()).map(jobFromRow);
    },
    /**
     * Claims the worker's next page of due jobs for `until`, earliest due first; `more` is false once
     * a page came back short. `run` is the transactor's: the claim is one unit.
     */
    async claimPage(run: Transactor['run'], now: string, until: string, limit: number): Promise<{ jobs: RotationJob[]; more: boolean }> {
      if (pg) {
        // Several daemons: the page is chosen and claimed in one statement (FOR UPDATE SKIP LOCKED).
        const mine = (await run((tx) => claimDueQuery(tx, now, until, limit).execute())).map(jobFromRow);
        mine.sort((a, b) => (a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : 0));
        return { jobs: mine, more: mine.length >= limit };
      }
      // One daemon: the page is read outside the transaction, then claimed in one write.
      const page = await due(db, now, limit);
      if (page.length === 0) return { jobs: [], more: false };
      const claimed = new Set(
        await run(
          (tx) =>
            claimMany(
              tx,
              page.map((j) => j.id),
              now,
              until,
            ),
          { singleWrite: true },
        ),
      );
      return { jobs: page.filter((j) => claimed.has(j.id)), more: page.length >= limit };
    },
    /** Takes a job for `until`; false when another worker holds it. */
    async claim(q: Q, id: string, now: string, until: string): Promise<boolean> {
      const r = await q
        .updateTable('rotation_jobs')
        .set({ claimed_until: until })
        .where('id', '=', id)
        .where('state', '=', 'open')
        .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    /** Lets go of every claim (a single daemon's claims left by a run that died). */
    async releaseAllClaims(q: Q): Promise<number> {
      const r = await q.updateTable('rotation_jobs').set({ claimed_until: null }).where('state', '=', 'open').where('claimed_until', 'is not', null).executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    async finish(q: Q, id: string, outcome: NonNullable<RotationJob['outcome']>, at: string): Promise<void> {
      await q.updateTable('rotation_jobs').set({ state: 'done', outcome, done_at: at, claimed_until: null }).where('id', '=', id).execute();
    },
    async depth(q: Q, now: string): Promise<{ open: number; due: number; oldestDue: string | null }> {
      const r = await q
        .selectFrom('rotation_jobs')
        .select((eb) => [eb.fn.countAll<number>().as('open'), eb.fn.min('due_at').as('oldest')])
        .where('state', '=', 'open')
        .executeTakeFirst();
      const d = await q
        .selectFrom('rotation_jobs')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', '=', 'open')
        .where('due_at', '<=', now)
        .executeTakeFirst();
      return { open: Number(r?.open ?? 0), due: Number(d?.n ?? 0), oldestDue: (r?.oldest as string | null | undefined) ?? null };
    },
  };
}

export type RotationJobRepository = ReturnType<typeof createRotationJobRepository>;
