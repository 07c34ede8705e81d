import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, Transaction, sql } from 'kysely';
import { appliedMigrations, knownMigrations } from './database';
import { Database } from './schema';

/**
 * Every table, each after the tables its foreign keys point at (grants, credential_versions and
 * rotation_jobs reference devices). A table added to the schema and not here is a compile error,
 * so a copy can never leave one behind.
 */
const copyOrder = {
  devices: 0,
  policies: 1,
  grants: 2,
  credential_versions: 3,
  rotation_jobs: 4,
  vault_secrets: 5,
  agent_tokens: 6,
  audit_events: 7,
  escalations: 8,
  webhook_deliveries: 9,
  portal_sessions: 10,
  portal_sign_ins: 11,
} satisfies Record<keyof Database, number>;

export type TableName = keyof Database;
export const tablesInCopyOrder: readonly TableName[] = (Object.keys(copyOrder) as TableName[]).sort((a, b) => copyOrder[a] - copyOrder[b]);

/** The copy was not started: the stores are not in a state to copy from or into. Nothing was written. */
export class StoreCopyRefused extends Error {}

/**
 * What the copy needs of an audit chain's verification. The verifier is the audit domain's, passed
 * in: the store copies tables and knows no domain (the layering rule in .dependency-cruiser.cjs).
 */
export interface ChainCheck {
  ok: boolean;
  events: number;
  headHash: string;
  firstBadSeq?: number;
  problem?: string;
}

/** An audit chain did not verify (the source's, before copying, or the target's, read back); nothing was kept on the target. */
export class ChainDoesNotVerify extends Error {
  constructor(
    readonly store: 'source' | 'target',
    readonly result: ChainCheck,
  ) {
    super(`the audit chain on the ${store} does not verify: event ${result.firstBadSeq ?? '?'}: ${result.problem ?? 'broken'}`);
  }
}

export interface CopyReport<V extends ChainCheck = ChainCheck> {
  /** Rows copied per table, in copy order; each equals the count read back from the target. */
  tables: Record<TableName, number>;
  /** The target's chain, read back and recomputed, inside the copy's transaction. */
  verify: V;
}

type LooseDb = Kysely<Record<string, Record<string, unknown>>>;

/**
 * Opens a SQLite store read-only (it must exist): a copy never changes its source, and can read a
 * store a stopped daemon left, or a consistent snapshot of one a running daemon is writing.
 */
export function openSqliteSource(file: string): Kysely<Database> {
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new StoreCopyRefused(`sqlite:${file}: cannot be opened (${e instanceof Error ? e.message : String(e)})`);
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

async function checkSchema(db: Kysely<Database>, name: string, migrateHint: string): Promise<void> {
  const applied = await appliedMigrations(db);
  const unknown = applied.filter((m) => !knownMigrations.includes(m));
  if (unknown.length > 0) throw new StoreCopyRefused(`the ${name} has migration ${unknown.join(', ')}, which this jitbroker does not know; use the release that applied it`);
  const missing = knownMigrations.filter((m) => !applied.includes(m));
  if (missing.length > 0) throw new StoreCopyRefused(`the ${name} is not migrated (missing ${missing.join(', ')}); run ${migrateHint} first`);
}

async function countRows(db: Kysely<Database>, table: TableName): Promise<number> {
  const r = await sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Copies one table from the source's snapshot in batches, by SQLite rowid (every table has one):
 * each batch is one multi-row INSERT, its size kept under PostgreSQL's 65535 parameters.
 */
async function copyTable(source: Transaction<Database>, target: Transaction<Database>, table: TableName, batchSize: number): Promise<number> {
  let after = 0;
  let copied = 0;
  for (;;) {
    const read = await sql<Record<string, unknown>>`SELECT rowid AS __copy_rowid, * FROM ${sql.table(table)} WHERE rowid > ${after} ORDER BY rowid LIMIT ${batchSize}`.execute(
      source,
    );
    const rows = read.rows;
    if (rows.length === 0) return copied;
    after = rows[rows.length - 1]?.__copy_rowid as number;
    const values = rows.map(({ __copy_rowid: _rowid, ...row }) => row);
    const columns = Object.keys(values[0] as object).length;
    // Rows go over in slices that fit the parameter limit whatever the table's width.
    const perInsert = Math.max(1, Math.floor(60000 / Math.max(1, columns)));
    for (let i = 0; i < values.length; i += perInsert) {
      await (target as unknown as LooseDb)
        .insertInto(table)
        .values(values.slice(i, i + perInsert))
        .execute();
    }
    copied += rows.length;
    if (rows.length < batchSize) return copied;
  }
}

/**
 * Copies every table of a SQLite store into a migrated, empty PostgreSQL store, in one target
 * transaction, values exactly as stored (audit seq, prev_hash and hash included). Before it
 * commits, it reads the target back: every table's count must equal what was copied and the
 * audit chain must verify there and end at the source's head. Any failure rolls the whole copy
 * back, so the target is either a verified copy or still empty.
 */
export async function copyStore<V extends ChainCheck>(
  source: Kysely<Database>,
  target: Kysely<Database>,
  opts: { targetName: string; batchSize?: number; onTable?: (table: TableName, rows: number) => void; verifyChain: (db: Kysely<Database>) => Promise<V> },
): Promise<CopyReport<V>> {
  const batchSize = opts.batchSize ?? 1000;
  await checkSchema(source, 'source', 'jitbroker migrate on it (or start the daemon once)');
  await checkSchema(target, 'target', `jitbroker migrate --store ${opts.targetName}`);
  // The source is read in one transaction: a snapshot, even while a daemon writes to it.
  return source.transaction().execute(async (from) => {
    const sourceChain = await opts.verifyChain(from);
    if (!sourceChain.ok) throw new ChainDoesNotVerify('source', sourceChain);
    return target.transaction().execute(async (to) => {
      const occupied: string[] = [];
      for (const table of tablesInCopyOrder) {
        const n = await countRows(to, table);
        if (n > 0) occupied.push(`${table} (${n})`);
      }
      if (occupied.length > 0) throw new StoreCopyRefused(`the target is not empty: ${occupied.join(', ')}; copy only into a freshly migrated database`);
      const tables = {} as Record<TableName, number>;
      for (const table of tablesInCopyOrder) {
        tables[table] = await copyTable(from, to, table, batchSize);
        opts.onTable?.(table, tables[table]);
      }
      for (const table of tablesInCopyOrder) {
        const [expected, found] = [await countRows(from, table), await countRows(to, table)];
        if (expected !== found || found !== tables[table]) throw new Error(`${table}: the source has ${expected} rows, the target ${found} after copying ${tables[table]}`);
      }
      const verify = await opts.verifyChain(to);
      if (!verify.ok) throw new ChainDoesNotVerify('target', verify);
      if (verify.headHash !== sourceChain.headHash || verify.events !== sourceChain.events) {
        throw new ChainDoesNotVerify('target', {
          ...verify,
          ok: false,
          problem: `the target's chain ends at ${verify.headHash} after ${verify.events} events, the source's at ${sourceChain.headHash} after ${sourceChain.events}`,
        });
      }
      return { tables, verify };
    });
  });
}
