import { Transaction } from 'kysely';
import { Database } from './schema';

/**
 * The unit-of-work contract both transactors keep (group commit in transactor.ts, a transaction per
 * unit in postgres-transactor.ts), in a module of its own so that neither imports the other's.
 */
export type Tx = Transaction<Database>;
export type Work<T> = (tx: Tx) => Promise<T>;

export interface UnitOptions {
  /**
   * The unit writes at most once, as its last statement: a failed statement undoes itself, so
   * the unit needs no savepoint of its own. Leave unset for anything else.
   */
  singleWrite?: boolean;
  /** Work nobody waits on (the rotation worker): batched after every waiting request's unit. */
  background?: boolean;
}

export interface Transactor {
  /** Runs `work` atomically; resolves only after its changes are durably committed. */
  run<T>(work: Work<T>, options?: UnitOptions): Promise<T>;
  /** Waits for every queued unit to finish. */
  drain(): Promise<void>;
}
