import { sqliteStoreFile } from './store/store-file';
import { redactPaths } from './logging/redact-paths';
import pino, { Logger } from 'pino';
import { createAuditLog } from './audit/audit-log';
import { createEscalationService } from './escalations/escalation-service';
import { createWebhookService } from './webhooks/webhook-service';
import { createAuditCheckpoints } from './audit/audit-checkpoints';
import { loadCheckpointSigner } from './audit/checkpoint-signer';
import { Config } from './config/config-schema';
import { createCredentialService } from './credentials/credential-service';
import { RotationSettings, createRotationService } from './credentials/rotation-service';
import { createDeviceService } from './devices/device-service';
import { createDeviceRepository } from './devices/device-repository';
import { createRotationJobRepository } from './credentials/rotation-job-repository';
import { createCredentialRepository } from './credentials/credential-repository';
import { MetricsSources, createMetrics } from './metrics/metrics';
import { createGrantService } from './grants/grant-service';
import { createDeviceIdentity } from './identity/device-identity';
import { identityProviders } from './identity/identity-registry';
import { withVerifiedTokenCache } from './identity/verified-token-cache';
import { createPolicyRepository } from './policies/policy-repository';
import { createPolicyService } from './policies/policy-service';
import { Db, SchemaBehindBuild, SchemaNewerThanBuild, checkSchemaCurrent, ensurePrivateDir, migrate, openSqlite, sqliteHandleOf, walJustCheckpointed } from './store/database';
import { openPostgres, redactUrl } from './store/postgres';
import { WalCheckpointer, startWalCheckpointer } from './store/wal-checkpointer';
import { createTransactor } from './store/transactor';
import { storeOutageCode } from './store/store-fault';
import { createStoreHealth } from './store/store-health';
import { backoffDelay } from './time/backoff';
import { Clock, systemClock } from './time/clock';
import { parseDurationSeconds } from './time/duration';
import { instrumentVault } from './vault/instrumented-vault';
import { vaultBackends } from './vault/vault-registry';

export interface Infra {
  db: Db;
  /** SQLite with store.checkpoint worker: the transactor's partner that checkpoints between its batches. */
  checkpointer?: WalCheckpointer;
  close: () => Promise<void>;
  clock: Clock;
  logger: Logger;
  /**
   * PostgreSQL that could not be reached at start: settles once it answers and its schema is
   * checked (rejecting with SchemaBehindBuild or SchemaNewerThanBuild if this build cannot use it).
   * Undefined when the store was usable at once.
   */
  storeReady?: Promise<void>;
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

export { redactPaths } from './logging/redact-paths';

export function createLogger(config: Config, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = { level: config.log.level, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (config.log.pretty) {
    // pino-pretty is a development dependency: a production install without it logs JSON instead of failing to start.
    let pretty = true;
    try {
      require.resolve('pino-pretty');
    } catch {
      pretty = false;
    }
    if (pretty) return pino({ ...options, transport: { target: 'pino-pretty' } });
    const logger = pino(options);
    logger.warn('log.pretty is set but pino-pretty is not installed (a development dependency): logging JSON');
    return logger;
  }
  return pino(options);
}

export { sqliteStoreFile } from './store/store-file';

export async function openInfra(config: Config, overrides: Partial<Pick<Infra, 'clock' | 'logger'>> = {}): Promise<Infra> {
  ensurePrivateDir(config.dataDir);
  const logger = overrides.logger ?? createLogger(config);
  if (config.store.driver === 'postgres') {
    // Enough connections for the scheduled jobs (each holds one for its advisory lock) and requests besides.
    const db = openPostgres(config.store.url as string, { maxConnections: 20 });
    let closed = false;
    const infra = {
      db,
      close: async () => {
        closed = true;
        await db.destroy();
      },
      clock: overrides.clock ?? systemClock,
      logger,
    };
    // Several daemons share the database: none migrates it on start (jitbroker migrate does, once).
    // A pending migration or a schema newer than this build is refused before anything listens.
    try {
      await checkSchemaCurrent(db);
    } catch (e) {
      const outage = storeOutageCode(e);
      if (outage) {
        logger.warn(
          { store: redactUrl(config.store.url as string), cause: outage },
          'the PostgreSQL store cannot be reached: waiting for the store (readiness answers 503 meanwhile)',
        );
        const storeReady = waitForPostgres(db, () => closed);
        void storeReady.then(
          () => logger.info({ store: redactUrl(config.store.url as string) }, 'the PostgreSQL store answers'),
          () => undefined,
        );
        return { ...infra, storeReady };
      }
      await db.destroy();
      if (e instanceof SchemaNewerThanBuild || e instanceof SchemaBehindBuild) throw e;
      throw new Error(`cannot use the PostgreSQL store ${redactUrl(config.store.url as string)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return infra;
  }
  const file = sqliteStoreFile(config);
  const { db, sqlite } = openSqlite(file, { checkpointPages: config.store.checkpointPages });
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
    clock: overrides.clock ?? systemClock,
    logger,
  };
}

const seconds = (d: string) => parseDurationSeconds(d) as number;

function rotationSettings(config: Config): RotationSettings {
  const r = config.rotation;
  return {
    maxAgeSeconds: seconds(r.maxAge),
    jitter: r.jitter,
    ackTimeoutSeconds: seconds(r.ackTimeout),
    history: r.history,
    concurrency: r.concurrency,
    maxPerSecond: r.maxPerSecond,
    retryBaseSeconds: seconds(r.retry.base),
    retryMaxSeconds: seconds(r.retry.max),
    flagAfter: r.retry.flagAfter,
    leaseSeconds: seconds(r.lease),
  };
}

/** The store-backed gauges: each a count over an index, never a scan of the fleet. */
function metricsSources(db: Db, clock: Clock, settings: RotationSettings): MetricsSources {
  const devices = createDeviceRepository(db);
  const jobs = createRotationJobRepository(db);
  const versions = createCredentialRepository(db);
  return {
    rotationQueue: () => jobs.depth(db, clock.now().toISOString()),
    failingDevices: () => devices.countFailing(db, settings.flagAfter),
    overdueDevices: () => devices.countOverdue(db, new Date(clock.now().getTime() - settings.maxAgeSeconds * 1000).toISOString()),
    ackOverdueDevices: () => versions.countAckOverdue(db, new Date(clock.now().getTime() - settings.ackTimeoutSeconds * 1000).toISOString()),
  };
}

/** The composition root: reads like the data-flow diagram of ARCHITECTURE.md. */
export async function createServices(config: Config, infra: Infra) {
  const { db, clock } = infra;
  // SQLite's own connection, to tell a slow commit that ran a WAL checkpoint; none on PostgreSQL.
  const sqlite = sqliteHandleOf(db);
  const metrics = createMetrics({ now: () => clock.now() });
  const storeHealth = createStoreHealth({ logger: infra.logger, clock, metrics });
  infra.checkpointer?.onCheckpoint((seconds) => metrics.checkpoint(seconds));
  const audit = createAuditLog({ db, clock, onAppend: (seconds) => metrics.auditAppend(seconds) });
  const transactor = createTransactor(db, {
    maxBatch: config.store.maxBatch,
    maxBatchMs: config.store.maxBatchMs,
    postgresCommit: config.store.postgresCommit,
    // Every daemon's batch takes the chain's lock first: batches from several daemons serialise on it
    // whole, instead of deadlocking on it after taking row locks.
    onBatchStart: config.store.driver === 'postgres' ? (tx) => audit.lockChain(tx) : undefined,
    betweenBatches: infra.checkpointer?.gate,
    onCommitFailed: (error) => storeHealth.commitFailed(error),
    onCommitSucceeded: () => storeHealth.committed(),
    onCommit: (seconds, units, commitSeconds) => {
      metrics.commit(seconds, units);
      // A transaction holds the event loop: one this long delays every request waiting behind it.
      // commitMs tells the units' own work apart from the COMMIT's (fsync, an automatic checkpoint).
      // checkpointed: this COMMIT also copied the WAL back into the database file (store.checkpointPages).
      if (seconds > 0.025) {
        const checkpointed = sqlite ? walJustCheckpointed(sqlite) : undefined;
        infra.logger.warn({ ms: Math.round(seconds * 1000), commitMs: Math.round(commitSeconds * 1000), units, checkpointed }, 'slow store transaction');
      }
      // Last: a checkpoint it starts must not be read above as this commit's own.
      infra.checkpointer?.committed();
    },
  });
  const vault = instrumentVault(
    vaultBackends[config.vault.backend]({ db, dataDir: config.dataDir, clock, transactor, logger: infra.logger, vault: config.vault, env: process.env }),
    config.vault.backend,
    metrics,
  );
  const credentials = createCredentialService({ db, vault, clock, passwords: { defaults: config.password, byGroup: config.passwordByGroup } });
  const rotations = createRotationService({ db, transactor, credentials, vault, audit, clock, logger: infra.logger, settings: rotationSettings(config), metrics });
  metrics.setSources(metricsSources(db, clock, rotationSettings(config)));
  const policyRepository = createPolicyRepository(db);
  const webhooks = createWebhookService({
    db,
    transactor,
    clock,
    logger: infra.logger,
    settings: {
      endpoints: config.webhooks.endpoints,
      maxAttempts: config.webhooks.maxAttempts,
      retryBaseSeconds: seconds(config.webhooks.retryBase),
      retryMaxSeconds: seconds(config.webhooks.retryMax),
      timeoutSeconds: config.webhooks.timeoutSeconds,
    },
  });
  const grants = createGrantService({
    db,
    transactor,
    audit,
    webhooks,
    policies: policyRepository,
    credentials,
    rotations,
    clock,
    postUseDelaySeconds: seconds(config.rotation.postUseDelay),
    ackTimeoutSeconds: seconds(config.rotation.ackTimeout),
    metrics,
    revealAuthContext: config.identity.mode === 'oidc' ? config.identity.oidc.revealAuthContext : undefined,
  });
  // After grants: a policy change and a device's retirement end grants through the grant state machine.
  const policies = createPolicyService({ db, transactor, policies: policyRepository, grants, audit, clock });
  const devices = createDeviceService({ db, transactor, audit, credentials, rotations, grants, clock });
  const signIn = await identityProviders[config.identity.mode](config.identity, { dataDir: config.dataDir, clock, logger: infra.logger });
  const identity = withVerifiedTokenCache(signIn.provider, {
    clock,
    maxEntries: config.identity.verifyCache.maxEntries,
    maxAgeSeconds: seconds(config.identity.verifyCache.maxAge),
    clockSkewSeconds: config.identity.clockSkewSeconds,
  });
  const { issueToken } = signIn;
  const deviceIdentity = createDeviceIdentity({
    db,
    transactor,
    clock,
    audience: config.agent.audience,
    maxLifetimeSeconds: config.agent.maxTokenLifetimeSeconds,
    clockSkewSeconds: config.identity.clockSkewSeconds,
  });
  const escalations = createEscalationService({ db, transactor, audit, webhooks, clock, settings: config.escalations });
  const checkpointSigner = loadCheckpointSigner(config.dataDir);
  const checkpoints = createAuditCheckpoints({
    db,
    transactor,
    audit,
    signer: checkpointSigner,
    clock,
    dataDir: config.dataDir,
    logger: infra.logger,
    settings: { everyEvents: config.audit.checkpoint.everyEvents, everySeconds: seconds(config.audit.checkpoint.every) },
  });
  const ready = async () => {
    await db.selectFrom('audit_events').select('seq').limit(1).execute();
    // Reads pass on a store that takes no writes (a full disk, a read-only file system): after a commit
    // failed for an outage, readiness fails until one succeeds, and tries one itself, audited.
    await storeHealth.check(() =>
      transactor.run((tx) =>
        audit.append(tx, {
          actor: { kind: 'system', subject: 'store' },
          action: 'store.write-probe',
          outcome: 'success',
          reason: 'readiness: the store takes writes again after commits failed',
          details: { ...storeHealth.failure() },
        }),
      ),
    );
    await vault.check();
  };
  return {
    db,
    transactor,
    audit,
    vault,
    credentials,
    rotations,
    policies,
    devices,
    grants,
    identity,
    issueToken,
    deviceIdentity,
    ready,
    storeHealth,
    metrics,
    checkpointSigner,
    checkpoints,
    webhooks,
    escalations,
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;
