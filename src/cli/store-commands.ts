import { Command } from 'commander';
import { Kysely } from 'kysely';
import { VerifyResult } from '../audit/audit-chain';
import { verifyStoredChain } from '../audit/stored-chain';
import { sqliteStoreFile } from '../store/store-file';
import { SchemaNewerThanBuild, knownMigrations, migrate, openSqlite } from '../store/database';
import { openPostgres } from '../store/postgres';
import { Database } from '../store/schema';
import { ChainDoesNotVerify, CopyReport, StoreCopyRefused, copyStore, openSqliteSource, tablesInCopyOrder } from '../store/store-copy';
import { StoreLocation, StoreUrlError, describeStore, parseStoreUrl } from '../store/store-url';
import { CliError } from './cli-error';
import { print, table } from './output';
import { configOrExit } from './serve-command';

function location(value: string, flag: string): StoreLocation {
  try {
    return parseStoreUrl(value);
  } catch (e) {
    if (e instanceof StoreUrlError) throw new CliError(`${flag} ${e.message}`, 2);
    throw e;
  }
}

/** The store a command works on: --store, else the daemon's own SQLite file from the configuration. */
function storeOf(opts: { store?: string; config?: string }): StoreLocation {
  if (opts.store) return location(opts.store, '--store');
  return { driver: 'sqlite', file: sqliteStoreFile(configOrExit(opts.config)) };
}

/** Opens a store for reading and writing; a SQLite file is created (private, durable) when missing. */
function open(s: StoreLocation): Kysely<Database> {
  if (s.driver === 'postgres') return openPostgres(s.url);
  // Everything a command creates beside the database (the file, WAL, shm) is private to its user.
  process.umask(0o077);
  return openSqlite(s.file).db;
}

function showVerify(r: VerifyResult): string {
  return r.ok ? `ok: ${r.events} events, head ${r.headHash}` : `broken at event ${r.firstBadSeq ?? '?'}: ${r.problem ?? 'does not verify'} (${r.events} events verify before it)`;
}

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('apply the numbered schema migrations this build has and the store lacks (serve also does this for SQLite on start)')
    .option('-c, --config <file>', "config file (the daemon's SQLite store is migrated)")
    .option('--store <url>', 'another store: sqlite:<file> or postgres://user@host:port/database')
    .action(async (opts: { config?: string; store?: string }) => {
      const s = storeOf(opts);
      const db = open(s);
      try {
        const applied = await migrate(db);
        for (const name of applied) console.log(`applied ${name}`);
        const latest = knownMigrations[knownMigrations.length - 1] ?? '-';
        console.log(applied.length > 0 ? `schema is current (${latest}): ${describeStore(s)}` : `schema is current (${latest}), nothing to apply: ${describeStore(s)}`);
      } catch (e) {
        if (e instanceof SchemaNewerThanBuild) throw new CliError(`refusing to migrate: ${e.message}`, 2);
        throw e;
      } finally {
        await db.destroy();
      }
    });
}

export function storeCommand(): Command {
  const cmd = new Command('store').description('copy and check whole stores, without a daemon (operators)');
  cmd.addCommand(
    new Command('copy')
      .description(
        'copy every table of a SQLite store into a migrated, empty PostgreSQL store in one transaction, then verify the audit chain there; exit 3 when it does not verify',
      )
      .requiredOption('--from <url>', 'the SQLite store: sqlite:<file> (stop the daemon first, or it copies the moment the copy starts)')
      .requiredOption('--to <url>', 'the PostgreSQL store, migrated (jitbroker migrate --store <url>) and empty: postgres://user@host:port/database')
      .option('--batch-size <rows>', 'rows read and inserted at a time', '1000')
      .option('--json', 'print the report as JSON')
      .action(async (opts: { from: string; to: string; batchSize: string; json?: boolean }) => {
        const from = location(opts.from, '--from');
        const to = location(opts.to, '--to');
        if (from.driver !== 'sqlite') throw new CliError('--from must be a SQLite store (sqlite:<file>)', 2);
        if (to.driver !== 'postgres') throw new CliError('--to must be a PostgreSQL store (postgres://…)', 2);
        const batchSize = Number(opts.batchSize);
        if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100000) throw new CliError(`--batch-size ${opts.batchSize}: accepted: a whole number from 1 to 100000`, 2);
        process.umask(0o077);
        let source: Kysely<Database> | undefined;
        const target = openPostgres(to.url);
        let report: CopyReport;
        try {
          source = openSqliteSource(from.file);
          report = await copyStore(source, target, { targetName: describeStore(to), batchSize, verifyChain: verifyStoredChain });
        } catch (e) {
          if (e instanceof StoreCopyRefused) throw new CliError(`refusing to copy: ${e.message}`, 2);
          if (e instanceof ChainDoesNotVerify) throw new CliError(`copy rolled back, the target is unchanged: ${e.message}`, 3);
          throw e;
        } finally {
          await source?.destroy();
          await target.destroy();
        }
        if (opts.json) return print({ from: describeStore(from), to: describeStore(to), ...report }, true, []);
        console.log(`copied ${describeStore(from)} to ${describeStore(to)}`);
        console.log(
          table(
            tablesInCopyOrder.map((t) => ({ table: t, rows: report.tables[t] })),
            ['table', 'rows'],
          ),
        );
        console.log(`audit chain on the target: ${showVerify(report.verify)}`);
      }),
  );
  cmd.addCommand(
    new Command('verify')
      .description("walk the audit chain stored in a database (no daemon): the daemon's SQLite store, or --store; exit 3 when it is broken")
      .option('-c, --config <file>', "config file (the daemon's SQLite store is read)")
      .option('--store <url>', 'another store: sqlite:<file> or postgres://user@host:port/database')
      .option('--json', 'print the result as JSON')
      .action(async (opts: { config?: string; store?: string; json?: boolean }) => {
        const s = storeOf(opts);
        process.umask(0o077);
        const db = s.driver === 'postgres' ? openPostgres(s.url) : openSqliteSource(s.file);
        let result: VerifyResult;
        try {
          result = await verifyStoredChain(db);
        } catch (e) {
          if (e instanceof StoreCopyRefused) throw new CliError(e.message, 2);
          throw e;
        } finally {
          await db.destroy();
        }
        if (opts.json) print(result, true, []);
        else console.log(`audit chain in ${describeStore(s)}: ${showVerify(result)}`);
        if (!result.ok) process.exitCode = 3;
      }),
  );
  return cmd;
}
