import crypto from 'node:crypto';
import { Kysely, sql } from 'kysely';
import { isPostgres } from './dialect';
import { isStoreOutage } from './store-fault';

/**
 * A stable 64-bit advisory lock key for a name: every daemon on one database derives the same
 * key, and jitbroker's keys share a prefix so they do not collide with another application's.
 */
export function advisoryKey(name: string): string {
  return crypto.createHash('sha256').update(`jitbroker:${name}`).digest().readBigInt64BE(0).toString();
}

/**
 * Runs a scheduled job only if no other daemon on the same database is running it now. On
 * PostgreSQL it holds a session advisory lock (pg_try_advisory_lock) on one pooled connection
 * for the run and skips the tick (undefined) when another daemon holds it; `fn` itself uses the
 * pool as usual. On SQLite there is one daemon: `fn` just runs.
 */
export async function withJobLock<DB, T>(db: Kysely<DB>, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  if (!isPostgres(db)) return fn();
  const key = advisoryKey(`job:${name}`);
  return db.connection().execute(async (conn) => {
    const got = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${key}::bigint) AS ok`.execute(conn);
    if (got.rows[0]?.ok !== true) return undefined;
    try {
      return await fn();
    } finally {
      // A connection that died took its session, and the lock, with it: nothing is left to unlock.
      // (The job may have finished on other connections meanwhile; its outcome is the one reported.)
      await sql`SELECT pg_advisory_unlock(${key}::bigint)`.execute(conn).catch((e: unknown) => {
        if (!isStoreOutage(e)) throw e;
      });
    }
  });
}
