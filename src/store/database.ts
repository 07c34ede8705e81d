import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { DEFAULT_MIGRATION_TABLE, Kysely, Migration, Migrator, SqliteDialect, sql } from 'kysely';
import * as m001 from './migrations/001-initial';
import * as m002 from './migrations/002-rotation';
import * as m003 from './migrations/003-escalations-webhooks';
import * as m004 from './migrations/004-revealed-versions';
import * as m005 from './migrations/005-unpruned-versions';
import * as m006 from './migrations/006-agent-key-thumbprint';
import * as m007 from './migrations/007-grant-coverage';
import * as m008 from './migrations/008-portal-sessions';
import * as m009 from './migrations/009-portal-sign-ins';
import { Database } from './schema';

export type Db = Kysely<Database>;

const sqliteHandles = new WeakMap<Db, BetterSqlite3.Database>();

/** The better-sqlite3 connection behind a store opened by openSqlite, for what SQL cannot ask (is a transaction open?). */
export function sqliteHandleOf(db: Db): BetterSqlite3.Database | undefined {
  return sqliteHandles.get(db);
}

const migrations: Record<string, Migration> = {
  '001-initial': m001,
  '002-rotation': m002,
  '003-escalations-webhooks': m003,
  '004-revealed-versions': m004,
  '005-unpruned-versions': m005,
  '006-agent-key-thumbprint': m006,
  '007-grant-coverage': m007,
  '008-portal-sessions': m008,
  '009-portal-sign-ins': m009,
};

/** Creates a directory (and parents) readable by the daemon's user only. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/**
 * Opens the SQLite store: WAL with synchronous=FULL, asserted after setting, because WAL's
 * default (NORMAL) can lose the last commits on power loss, and with them the audit event of
 * a password already shown.
 */
export function openSqlite(file: string, opts: { checkpointPages?: number; maxSizeMebibytes?: number } = {}): { db: Db; sqlite: BetterSqlite3.Database; sizeCap?: SizeCap } {
  ensurePrivateDir(path.dirname(file));
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // After a burst, a WAL file that was reset is cut back to this size instead of keeping its high-water mark.
  sqlite.pragma('journal_size_limit = 33554432');
  // An automatic checkpoint runs inside the commit that crosses the threshold: it writes those pages
  // into the database file and fsyncs it while the event loop waits. Fewer pages, shorter stalls.
  if (opts.checkpointPages !== undefined) sqlite.pragma(`wal_autocheckpoint = ${opts.checkpointPages}`);
  const mode = sqlite.pragma('journal_mode', { simple: true });
  const sync = sqlite.pragma('synchronous', { simple: true });
  if (mode !== 'wal' || sync !== 2) {
    sqlite.close();
    throw new Error(`SQLite at ${file} is not durable: journal_mode=${String(mode)}, synchronous=${String(sync)} (need wal and FULL=2)`);
  }
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.chmodSync(file + suffix, 0o600);
  }
  const sizeCap = opts.maxSizeMebibytes === undefined ? undefined : capSize(sqlite, opts.maxSizeMebibytes);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  sqliteHandles.set(db, sqlite);
  return { db, sqlite, sizeCap };
}

/** store.maxSizeMebibytes as pages: what was asked, and what SQLite applied (never less than the file already holds). */
export interface SizeCap {
  pages: number;
  applied: number;
}

/**
 * Caps the database file at `mebibytes` (PRAGMA max_page_count: per connection, so set on the
 * daemon's, the only one that writes; the checkpoint worker copies back pages already committed
 * under the cap). Past it a write fails with SQLITE_FULL, as on a full disk.
 */
function capSize(sqlite: BetterSqlite3.Database, mebibytes: number): SizeCap {
  const pages = Math.floor((mebibytes * 1024 * 1024) / Number(sqlite.pragma('page_size', { simple: true })));
  // SQLite never sets it below the file's current size: a store already larger stays as large, and grows no more.
  const applied = Number(sqlite.pragma(`max_page_count = ${pages}`, { simple: true }));
  return { pages, applied };
}

/** How many frames the WAL holds (`log`) and how many of them are copied back into the database file. */
export interface WalState {
  log: number;
  checkpointed: number;
}

const walStateStatements = new WeakMap<BetterSqlite3.Database, BetterSqlite3.Statement>();

/**
 * The WAL's state, read without checkpointing (`wal_checkpoint(NOOP)`, SQLite 3.51+, bundled with
 * the driver). Prepared once per connection: the checkpoint worker asks after every commit.
 */
export function readWalState(sqlite: BetterSqlite3.Database): WalState | undefined {
  let statement = walStateStatements.get(sqlite);
  if (!statement) walStateStatements.set(sqlite, (statement = sqlite.prepare('PRAGMA wal_checkpoint(NOOP)')));
  return statement.get() as WalState | undefined;
}

/**
 * Whether the WAL stands fully copied back into the database file: true right after a commit that
 * ran SQLite's automatic checkpoint (or the checkpoint worker just ran), since the next write
 * starts the WAL over.
 */
export function walJustCheckpointed(sqlite: BetterSqlite3.Database): boolean {
  const r = readWalState(sqlite);
  return r !== undefined && r.log > 0 && r.checkpointed === r.log;
}

/**
 * Kysely prepares every query it runs; preparing costs more than running a small one. This keeps
 * each prepared statement by its SQL text (queries are parameterised, so the set is small and
 * bounded) and prepares a fresh one only while the cached one is still iterating a stream.
 */
function withStatementCache(sqlite: BetterSqlite3.Database, max = 500) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(text: string): BetterSqlite3.Statement {
      const hit = cache.get(text);
      if (hit && !hit.busy) return hit;
      const stmt = sqlite.prepare(text);
      if (!hit) {
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
        cache.set(text, stmt);
      }
      return stmt;
    },
    close(): void {
      cache.clear();
      sqlite.close();
    },
  };
}

/** The numbered migrations this build knows, in the order they apply. */
export const knownMigrations: readonly string[] = Object.keys(migrations).sort();

/** The store records a migration this build does not have: a newer jitbroker migrated it. */
export class SchemaNewerThanBuild extends Error {
  constructor(readonly unknown: readonly string[]) {
    super(
      `the database schema is newer than this build: it has migration ${unknown.join(', ')}, which this jitbroker does not know (it knows ${knownMigrations.join(', ')}); run the jitbroker release that applied it, or a newer one`,
    );
    this.name = 'SchemaNewerThanBuild';
  }
}

/** A shared (PostgreSQL) store lacks migrations this build needs: the daemon does not migrate it by itself. */
export class SchemaBehindBuild extends Error {
  constructor(readonly pending: readonly string[]) {
    super(
      `the database schema is older than this build: migration ${pending.join(', ')} is not applied; run jitbroker migrate --store <url> (once, for every daemon sharing the database) before starting`,
    );
    this.name = 'SchemaBehindBuild';
  }
}

/**
 * Checks, without changing anything, that a store's schema is exactly what this build knows:
 * SchemaNewerThanBuild for a migration it does not have, SchemaBehindBuild for one not yet applied.
 */
export async function checkSchemaCurrent(db: Db): Promise<void> {
  const applied = await appliedMigrations(db);
  const unknown = applied.filter((name) => !knownMigrations.includes(name));
  if (unknown.length > 0) throw new SchemaNewerThanBuild(unknown);
  const pending = knownMigrations.filter((name) => !applied.includes(name));
  if (pending.length > 0) throw new SchemaBehindBuild(pending);
}

/** The migrations the store records as applied, oldest first; none for an empty database. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE)) return [];
  const rows = await sql<{ name: string }>`SELECT name FROM ${sql.table(DEFAULT_MIGRATION_TABLE)} ORDER BY name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/**
 * Applies every numbered migration not yet applied and returns their names (none: the schema is
 * current). Refuses with SchemaNewerThanBuild, before changing anything, a store that records a
 * migration this build does not have: running older code on a newer schema could write rows the
 * newer code misreads.
 */
export async function migrate(db: Db): Promise<string[]> {
  const unknown = (await appliedMigrations(db)).filter((name) => !knownMigrations.includes(name));
  if (unknown.length > 0) throw new SchemaNewerThanBuild(unknown);
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  // Another process may have recorded a newer migration between the check above and the migrator's lock.
  const missing = error instanceof Error ? /previously executed migration (\S+) is missing/.exec(error.message) : null;
  if (missing) throw new SchemaNewerThanBuild([missing[1] as string]);
  if (error || failed) throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
