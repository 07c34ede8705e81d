import { Kysely, PostgresAdapter } from 'kysely';

/**
 * True when `db` (a Kysely instance or a transaction of one) speaks PostgreSQL. Migrations branch
 * on this only where SQL differs between the dialects (column types, triggers); SQLite keeps
 * exactly the statements it always ran, since existing databases already applied them.
 */
export function isPostgres(db: Pick<Kysely<unknown>, 'getExecutor'>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
