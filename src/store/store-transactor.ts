import { Logger } from 'pino';
import type { Config } from '../config/config-schema';
import { Db, sqliteHandleOf, walJustCheckpointed } from './database';
import { isPostgres } from './dialect';
import { StoreHealth } from './store-health';
import { Transactor, Tx, createTransactor } from './transactor';
import { WalCheckpointer } from './wal-checkpointer';

/**
 * The daemon's transactor: batched commits told to the store's health and metrics, the WAL
 * checkpointer as its partner between batches, and slow transactions logged.
 */
export function createStoreTransactor(
  db: Db,
  deps: {
    settings: Pick<Config['store'], 'maxBatch' | 'maxBatchMs' | 'postgresCommit'>;
    /** Takes the audit chain's lock in a transaction (PostgreSQL). */
    lockChain: (tx: Tx) => Promise<void>;
    health: Pick<StoreHealth, 'commitFailed' | 'committed'>;
    metrics: { commit(seconds: number, units: number): void; checkpoint(seconds: number): void };
    checkpointer?: WalCheckpointer;
    logger: Logger;
  },
): Transactor {
  const { checkpointer, logger, metrics } = deps;
  // SQLite's own connection, to tell a slow commit that ran a WAL checkpoint; none on PostgreSQL.
  const sqlite = sqliteHandleOf(db);
  checkpointer?.onCheckpoint((seconds) => metrics.checkpoint(seconds));
  return createTransactor(db, {
    maxBatch: deps.settings.maxBatch,
    maxBatchMs: deps.settings.maxBatchMs,
    postgresCommit: deps.settings.postgresCommit,
    // Every daemon's batch takes the chain's lock first: batches from several daemons serialise on it
    // whole, instead of deadlocking on it after taking row locks.
    onBatchStart: isPostgres(db) ? deps.lockChain : undefined,
    betweenBatches: checkpointer?.gate,
    onCommitFailed: (error) => deps.health.commitFailed(error),
    onCommitSucceeded: () => deps.health.committed(),
    onCommit: (seconds, units, commitSeconds) => {
      metrics.commit(seconds, units);
      // A transaction holds the event loop: one this long delays every request waiting behind it.
      // commitMs tells the units' own work apart from the COMMIT's (fsync, an automatic checkpoint).
      // checkpointed: this COMMIT also copied the WAL back into the database file (store.checkpointPages).
      if (seconds > 0.025) {
        const checkpointed = sqlite ? walJustCheckpointed(sqlite) : undefined;
        logger.warn({ ms: Math.round(seconds * 1000), commitMs: Math.round(commitSeconds * 1000), units, checkpointed }, 'slow store transaction');
      }
      // Last: a checkpoint it starts must not be read above as this commit's own.
      checkpointer?.committed();
    },
  });
}
