import { DomainError } from '../problems/problem';
import { Db } from './database';
import { isStoreOutage } from './store-fault';
import { inTransaction } from './transaction';
import type { Transactor, UnitOptions, Work } from './unit-of-work';

/** SQLSTATEs after which running the whole unit again, in a new transaction, can succeed. */
const retryable = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  // unique_violation: a concurrent daemon inserted the same key first (a device's one open rotation
  // job, an enrolment); run again, the unit reads the committed row and decides on it.
  '23505',
]);

/** True for an error PostgreSQL itself raised (pg's DatabaseError: a five-character SQLSTATE and a severity). */
function isPostgresError(error: unknown): error is { code: string } {
  const e = error as { code?: unknown; severity?: unknown } | undefined;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}

/**
 * The transactor on PostgreSQL: each unit in a pooled transaction of its own (READ COMMITTED),
 * committed concurrently with other units and other daemons, so no group commit. Errors map as
 * the SQLite transactor maps them: a database error (a refused write, the append-only trigger)
 * fails closed as 'unavailable' ("refused"), a lost connection or a failed commit as 'unavailable'
 * ("could not commit"); a serialization failure, deadlock or lost insert race runs the unit again
 * in a new transaction, a bounded number of times. A unit's transaction is a new one every time,
 * so its scratch (the audit chain's head) starts empty and is read from the table.
 */
export function createPostgresTransactor(
  db: Db,
  opts: {
    onCommit?: (seconds: number, units: number, commitSeconds: number) => void;
    onCommitFailed?: (error: unknown) => void;
    onCommitSucceeded?: () => void;
    maxAttempts?: number;
  } = {},
): Transactor {
  const maxAttempts = opts.maxAttempts ?? 5;
  const inFlight = new Set<Promise<unknown>>();

  async function attempt<T>(work: Work<T>): Promise<T> {
    for (let n = 1; ; n++) {
      const started = process.hrtime.bigint();
      let committing = false;
      let workDone = started;
      try {
        const value = await inTransaction(db, async (tx) => {
          const v = await work(tx);
          committing = true;
          workDone = process.hrtime.bigint();
          return v;
        });
        const ended = process.hrtime.bigint();
        opts.onCommit?.(Number(ended - started) / 1e9, 1, Number(ended - workDone) / 1e9);
        opts.onCommitSucceeded?.();
        return value;
      } catch (error) {
        if (isPostgresError(error) && retryable.has(error.code) && n < maxAttempts) {
          // A short random pause so that two daemons that collided do not collide again.
          await new Promise((r) => setTimeout(r, Math.random() * 10 * n));
          continue;
        }
        if (committing || isStoreOutage(error)) opts.onCommitFailed?.(error);
        throw postgresToDomain(error, committing);
      }
    }
  }

  return {
    run<T>(work: Work<T>, _options: UnitOptions = {}): Promise<T> {
      const p = attempt(work);
      inFlight.add(p);
      const forget = () => inFlight.delete(p);
      p.then(forget, forget);
      return p;
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** A unique-key violation: another writer inserted the same key first. */
export function isUniqueViolation(error: unknown): boolean {
  return isPostgresError(error) && error.code === '23505';
}

/** A PostgreSQL failure as the SQLite transactor reports one: refused, or not committed. */
export function postgresToDomain(error: unknown, committing: boolean): unknown {
  // The server went away (or cannot serve): nothing of the unit is known to be durable.
  if (committing || isStoreOutage(error)) {
    return new DomainError('unavailable', 'The store could not commit the change; nothing was done.', { cause: error });
  }
  if (!isPostgresError(error)) return error;
  return new DomainError('unavailable', 'The store refused the change; nothing was done.', { cause: error });
}
