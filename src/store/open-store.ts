import { Logger } from 'pino';
import type { Config } from '../config/config-schema';
import { StartupRefused } from '../startup/startup-refused';
import { Db, SchemaBehindBuild, SchemaNewerThanBuild, checkSchemaCurrent, migrate, openSqlite } from './database';
import { openPostgres, redactUrl } from './postgres';
import { storeOutageCode } from './store-fault';
import { sqliteStoreFile } from './store-file';
import { WalCheckpointer, startWalCheckpointer } from './wal-checkpointer';
import { backoffDelay } from '../time/backoff';

export interface OpenStore {
  db: Db;
  /** SQLite with store.checkpoint worker: the transactor's partner that checkpoints between its batches. */
  checkpointer?: WalCheckpointer;
  /**
   * PostgreSQL that could not be reached at start: settles once it answers and its schema is
   * checked (rejecting with SchemaBehindBuild or SchemaNewerThanBuild if this build cannot use it).
   * Undefined when the store was usable at once.
   */
  storeReady?: Promise<void>;
  close(): Promise<void>;
}

/**
 * Checks the shared store's schema again, with backoff, until it answers: a daemon started while
 * PostgreSQL is down (or starting up) waits for it instead of exiting. Anything else than an
 * outage (a schema this build cannot use, a refused login) rejects.
 */
async function waitForPostgres(db: Db, closed: () => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await new Promise((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 250, maxMs: 5000, jitter: 'none' })));
    // Stopped while waiting: the daemon is going away, there is nothing to wait for.
    if (closed()) return new Promise<void>(() => undefined);
    try {
      await checkSchemaCurrent(db);
      return;
    } catch (e) {
      if (!storeOutageCode(e)) throw e;
    }
  }
}

async function openPostgresStore(url: string, logger: Logger): Promise<OpenStore> {
  // Enough connections for the scheduled jobs (each holds one for its advisory lock) and requests besides.
  const db = openPostgres(url, { maxConnections: 20 });
  let closed = false;
  const store: OpenStore = {
    db,
    close: async () => {
      closed = true;
      await db.destroy();
    },
  };
  // Several daemons share the database: none migrates it on start (jitbroker migrate does, once).
  // A pending migration or a schema newer than this build is refused before anything listens.
  try {
    await checkSchemaCurrent(db);
  } catch (e) {
    const outage = storeOutageCode(e);
    if (outage) {
      logger.warn({ store: redactUrl(url), cause: outage }, 'the PostgreSQL store cannot be reached: waiting for the store (readiness answers 503 meanwhile)');
      const storeReady = waitForPostgres(db, () => closed);
      void storeReady.then(
        () => logger.info({ store: redactUrl(url) }, 'the PostgreSQL store answers'),
        () => undefined,
      );
      return { ...store, storeReady };
    }
    await db.destroy();
    if (e instanceof SchemaNewerThanBuild || e instanceof SchemaBehindBuild) throw e;
    // No such database, a refused login: waiting cannot fix it, the operator must.
    throw new StartupRefused(`cannot use the PostgreSQL store ${redactUrl(url)}: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
  }
  return store;
}

async function openSqliteStore(config: Pick<Config, 'dataDir' | 'store'>, logger: Logger): Promise<OpenStore> {
  const file = sqliteStoreFile(config);
  const { db, sqlite, sizeCap } = openSqlite(file, { checkpointPages: config.store.checkpointPages, maxSizeMebibytes: config.store.maxSizeMebibytes });
  if (sizeCap && sizeCap.applied > sizeCap.pages) {
    logger.warn(
      { maxSizeMebibytes: config.store.maxSizeMebibytes, pages: sizeCap.pages, filePages: sizeCap.applied },
      'the store is already larger than store.maxSizeMebibytes: it takes writes only into its free pages',
    );
  }
  // A single SQLite daemon migrates its own store on start (a fresh data dir just works); a schema
  // newer than this build is refused here, before anything listens (SchemaNewerThanBuild).
  try {
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const checkpointer = config.store.checkpoint === 'worker' ? startWalCheckpointer(sqlite, file, { pages: config.store.checkpointPages, logger }) : undefined;
  return {
    db,
    checkpointer,
    close: async () => {
      await checkpointer?.stop();
      await db.destroy();
    },
  };
}

/** Opens the configured store, ready for the services (or, PostgreSQL down at start, with `storeReady` to wait on). */
export function openStore(config: Pick<Config, 'dataDir' | 'store'>, logger: Logger): Promise<OpenStore> {
  return config.store.driver === 'postgres' ? openPostgresStore(config.store.url as string, logger) : openSqliteStore(config, logger);
}
