import { sql } from 'kysely';
import { DomainError } from '../problems/problem';
import { Db, sqliteHandleOf } from './database';
import { isPostgres } from './dialect';
import { createPostgresTransactor, isUniqueViolation, postgresToDomain } from './postgres-transactor';
import { isStoreOutage } from './store-fault';
import { inTransaction } from './transaction';
import { Transactor, Tx, UnitOptions, Work } from './unit-of-work';

export type { Transactor, Tx, UnitOptions, Work } from './unit-of-work';

interface Waiting {
  work: Work<unknown>;
  options: UnitOptions;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const scratches = new WeakMap<Tx, Map<string, unknown>>();

/**
 * Values a unit may keep for the next units of the same transaction (the audit chain's head).
 * The transactor puts back what a failed unit changed, as its savepoint puts back its rows.
 */
export function transactionScratch(tx: Tx): Map<string, unknown> {
  let s = scratches.get(tx);
  if (!s) scratches.set(tx, (s = new Map()));
  return s;
}

/**
 * Group commit. Each caller's unit of work (a state change and its audit event) runs inside a
 * savepoint of one shared transaction; units that arrive while a commit is in progress wait
 * and share the next one. A unit that throws rolls back to its savepoint alone. Each caller's
 * promise settles only after the commit that holds its unit: audit before response still holds,
 * and one fsync serves a whole batch instead of one per request.
 */
export function createTransactor(
  db: Db,
  opts: {
    maxBatch: number;
    /** A batch takes no more units once it has run this long, so no transaction holds the event loop for long. */
    maxBatchMs: number;
    /**
     * Told how long each transaction took, from its start to its durable commit, how many units it
     * held, and how much of that time was the COMMIT itself (the fsync, and SQLite's automatic
     * checkpoint when one is due).
     */
    onCommit?: (seconds: number, units: number, commitSeconds: number) => void;
    /**
     * Told the store's own error when a transaction did not commit (the whole batch failed), and
     * when a unit's write failed because the store is unavailable (storeOutageCode).
     */
    onCommitFailed?: (error: unknown) => void;
    /** Told when a transaction committed with no unit failing for a store outage: the store takes writes. */
    onCommitSucceeded?: () => void;
    /**
     * PostgreSQL only: `group` batches units as on SQLite (one transaction, one chain lock and one
     * commit per batch); `unit` gives each unit a pooled transaction of its own.
     */
    postgresCommit?: 'group' | 'unit';
    /**
     * Asked before each batch: a promise to wait for first (without holding the event loop), or
     * undefined to go on. The WAL checkpointer holds batches back while its worker checkpoints.
     */
    betweenBatches?: () => Promise<void> | undefined;
    /** Runs first in every batch's transaction (PostgreSQL: take the audit chain's lock, so batches never deadlock on it). */
    onBatchStart?: (tx: Tx) => Promise<void>;
  },
): Transactor {
  const pg = isPostgres(db);
  const sqlite = pg ? undefined : sqliteHandleOf(db);
  if (pg && opts.postgresCommit === 'unit')
    return createPostgresTransactor(db, { onCommit: opts.onCommit, onCommitFailed: opts.onCommitFailed, onCommitSucceeded: opts.onCommitSucceeded });
  // Requests' units go first; background units fill what room a batch has left.
  const queue: Waiting[] = [];
  const later: Waiting[] = [];
  let running: Promise<void> | undefined;
  const waiting = () => queue.length + later.length;
  const take = () => (queue.length > 0 ? queue.shift() : later.shift()) as Waiting;

  async function runUnit(tx: Tx, item: Waiting): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
    const scratch = transactionScratch(tx);
    const before = new Map(scratch);
    // On PostgreSQL a failed statement aborts the whole transaction unless a savepoint contains it.
    const savepoint = pg || !item.options.singleWrite;
    for (let attempt = 1; ; attempt++) {
      if (savepoint) await sql`SAVEPOINT unit`.execute(tx);
      try {
        const value = await item.work(tx);
        if (savepoint) await sql`RELEASE SAVEPOINT unit`.execute(tx);
        return { ok: true, value };
      } catch (error) {
        // Some SQLite errors (a full disk, I/O, out of memory, RAISE(ROLLBACK)) undo the whole
        // transaction, not just the statement: the batch's earlier units are gone, and a later unit
        // would run and commit on its own while its caller heard "nothing was done". End the batch here.
        if (sqlite && !sqlite.inTransaction) throw new TransactionLost(error);
        if (savepoint) {
          try {
            await sql`ROLLBACK TO SAVEPOINT unit`.execute(tx);
            await sql`RELEASE SAVEPOINT unit`.execute(tx);
          } catch {
            // The connection is gone (or the transaction with it): the unit's own error is the cause, not this one's.
            throw error;
          }
        }
        scratch.clear();
        before.forEach((v, k) => scratch.set(k, v));
        // Another daemon inserted the same key first: run the unit again, it now reads that row and decides on it.
        if (pg && isUniqueViolation(error) && attempt < 5) continue;
        return { ok: false, error };
      }
    }
  }

  /** Takes units from the queue into one transaction until maxBatch or maxBatchMs, then commits them together. */
  async function commitBatch(): Promise<void> {
    const batch: Waiting[] = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const started = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
    let unitsDoneMs = 0;
    try {
      await inTransaction(db, async (tx) => {
        await opts.onBatchStart?.(tx);
        while (waiting() > 0 && batch.length < opts.maxBatch && (batch.length === 0 || elapsedMs() < opts.maxBatchMs)) {
          const item = take();
          batch.push(item);
          outcomes.push(await runUnit(tx, item));
        }
        unitsDoneMs = elapsedMs();
      });
      const totalMs = elapsedMs();
      opts.onCommit?.(totalMs / 1000, batch.length, (totalMs - unitsDoneMs) / 1000);
    } catch (error) {
      // The commit itself failed, or SQLite undid the transaction: nothing of this batch is durable, so every caller fails closed.
      const cause = error instanceof TransactionLost ? error.cause : error;
      const failure = new DomainError('unavailable', 'The store could not commit the change; nothing was done.', { cause });
      opts.onCommitFailed?.(cause);
      batch.forEach((item) => item.reject(failure));
      return;
    }
    // A write the store could not take (a full disk that undid only the statement) is a failed commit of that unit.
    const refused = outcomes.flatMap((o) => (!o.ok && isStoreOutage(o.error) ? [o.error] : []));
    if (refused.length === 0) opts.onCommitSucceeded?.();
    refused.forEach((error) => opts.onCommitFailed?.(error));
    batch.forEach((item, i) => {
      const o = outcomes[i];
      if (o?.ok) item.resolve(o.value);
      else item.reject(o ? (pg ? postgresToDomain(o.error, false) : toDomain(o.error)) : new DomainError('internal', 'lost unit of work'));
    });
  }

  async function loop(): Promise<void> {
    while (waiting() > 0) {
      // Yield to the event loop before each batch. SQLite answers synchronously, so without this a
      // queue that keeps refilling (units whose callers queue the next) would run batch after batch
      // on microtasks alone and starve I/O and timers. It also lets more waiting units join.
      await new Promise<void>((r) => setImmediate(r));
      const gate = opts.betweenBatches?.();
      if (gate) await gate;
      await commitBatch();
    }
    running = undefined;
  }

  return {
    run<T>(work: Work<T>, options: UnitOptions = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        (options.background ? later : queue).push({ work: work as Work<unknown>, options, resolve: resolve as (v: unknown) => void, reject });
        running ??= loop();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}

/** SQLite rolled the whole transaction back while a unit ran. */
class TransactionLost extends Error {
  constructor(override readonly cause: unknown) {
    super('SQLite rolled back the transaction');
  }
}

/** A database error inside a unit (a refused write, a raising trigger) fails closed as 503; others pass through. */
function toDomain(error: unknown): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (!(typeof code === 'string' && code.startsWith('SQLITE_'))) return error;
  return new DomainError('unavailable', 'The store refused the change; nothing was done.', { cause: error });
}
