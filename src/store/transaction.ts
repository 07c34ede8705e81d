import { Kysely, Transaction } from 'kysely';

/**
 * Runs `work` in a new transaction and commits it; when the work or the COMMIT fails, rolls back
 * and throws that failure, never the rollback's own. Kysely's `transaction().execute()` throws
 * whatever its ROLLBACK throws instead: after a full disk or an I/O error SQLite has already undone
 * the transaction and the ROLLBACK fails with "no transaction is active", and on a lost PostgreSQL
 * connection it fails too, so the log named the rollback and never SQLITE_FULL or the lost server.
 * The ROLLBACK is still sent: it is what hands the connection back (SQLite's only one, or pg's
 * pooled one, which the pool then drops as broken).
 */
export async function inTransaction<DB, T>(db: Kysely<DB>, work: (tx: Transaction<DB>) => Promise<T>): Promise<T> {
  const tx = await db.startTransaction().execute();
  try {
    const value = await work(tx);
    await tx.commit().execute();
    return value;
  } catch (error) {
    if (!tx.isRolledBack)
      await tx
        .rollback()
        .execute()
        .catch(() => undefined);
    throw error;
  }
}
