import { sql } from 'kysely';
import { Db } from '../../src/store/database';
import { isPostgres } from '../../src/store/dialect';

/**
 * Makes every insert into `table` fail inside the database with `message`, as a full disk or a
 * broken store would: a trigger named `name` (on PostgreSQL with a function of the same name).
 */
export async function failInserts(db: Db, table: string, name: string, message: string): Promise<void> {
  if (isPostgres(db)) {
    await sql`CREATE FUNCTION ${sql.raw(name)}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION ${sql.lit(message)}; END $$`.execute(db);
    await sql`CREATE TRIGGER ${sql.raw(name)} BEFORE INSERT ON ${sql.table(table)} FOR EACH ROW EXECUTE FUNCTION ${sql.raw(name)}()`.execute(db);
    return;
  }
  await sql`CREATE TRIGGER ${sql.raw(name)} BEFORE INSERT ON ${sql.table(table)} BEGIN SELECT RAISE(ABORT, ${sql.lit(message)}); END`.execute(db);
}

/** Removes what failInserts made. */
export async function restoreInserts(db: Db, table: string, name: string): Promise<void> {
  if (isPostgres(db)) {
    await sql`DROP TRIGGER ${sql.raw(name)} ON ${sql.table(table)}`.execute(db);
    await sql`DROP FUNCTION ${sql.raw(name)}()`.execute(db);
    return;
  }
  await sql`DROP TRIGGER ${sql.raw(name)}`.execute(db);
}
