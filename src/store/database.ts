import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migration, Migrator, SqliteDialect } from 'kysely';
import * as m001 from './migrations/001-initial';
import * as m002 from './migrations/002-rotation';
import * as m003 from './migrations/003-escalations-webhooks';
import { Database } from './schema';

export type Db = Kysely<Database>;

const migrations: Record<string, Migration> = { '001-initial': m001, '002-rotation': m002, '003-escalations-webhooks': m003 };

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
export function openSqlite(file: string): { db: Db; sqlite: BetterSqlite3.Database } {
  ensurePrivateDir(path.dirname(file));
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // After a burst, a WAL file that was reset is cut back to this size instead of keeping its high-water mark.
  sqlite.pragma('journal_size_limit = 33554432');
  const mode = sqlite.pragma('journal_mode', { simple: true });
  const sync = sqlite.pragma('synchronous', { simple: true });
  if (mode !== 'wal' || sync !== 2) {
    sqlite.close();
    throw new Error(`SQLite at ${file} is not durable: journal_mode=${String(mode)}, synchronous=${String(sync)} (need wal and FULL=2)`);
  }
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.chmodSync(file + suffix, 0o600);
  }
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }), sqlite };
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

/** Applies every numbered migration not yet applied; throws on a schema newer than this build. */
export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
}
