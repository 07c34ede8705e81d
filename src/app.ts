import path from 'node:path';
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
import { MetricsSources, createMetrics } from './metrics/metrics';
import { createGrantService } from './grants/grant-service';
import { createDeviceIdentity } from './identity/device-identity';
import { createLocalIdentity } from './identity/local/local-identity';
import { withVerifiedTokenCache } from './identity/verified-token-cache';
import { createPolicyService } from './policies/policy-service';
import { Db, ensurePrivateDir, migrate, openSqlite } from './store/database';
import { startWalCheckpointer } from './store/wal-checkpointer';
import { createTransactor } from './store/transactor';
import { Clock, systemClock } from './time/clock';
import { parseDurationSeconds } from './time/duration';
import { vaultBackends } from './vault/vault-registry';

export interface Infra {
  db: Db;
  close: () => Promise<void>;
  clock: Clock;
  logger: Logger;
}

// pino redaction is the second guard; the Secret type is the first.
export const redactPaths = ['req.headers.authorization', 'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'body.password'];

export function createLogger(config: Config, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = { level: config.log.level, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (config.log.pretty) return pino({ ...options, transport: { target: 'pino-pretty' } });
  return pino(options);
}

export async function openInfra(config: Config, overrides: Partial<Pick<Infra, 'clock' | 'logger'>> = {}): Promise<Infra> {
  ensurePrivateDir(config.dataDir);
  const logger = overrides.logger ?? createLogger(config);
  const file = config.store.url ?? path.join(config.dataDir, 'jitbroker.db');
  const { db, sqlite } = openSqlite(file);
  await migrate(db);
  const checkpointer = config.store.checkpoint === 'worker' ? startWalCheckpointer(sqlite, file, { intervalMs: 1000, logger }) : undefined;
  return {
    db,
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
    retryBaseSeconds: seconds(r.retry.base),
    retryMaxSeconds: seconds(r.retry.max),
    flagAfter: r.retry.flagAfter,
    leaseSeconds: 300,
  };
}

/** The store-backed gauges: each a count over an index, never a scan of the fleet. */
function metricsSources(db: Db, clock: Clock, settings: RotationSettings): MetricsSources {
  const devices = createDeviceRepository(db);
  const jobs = createRotationJobRepository(db);
  return {
    rotationQueue: () => jobs.depth(db, clock.now().toISOString()),
    failingDevices: () => devices.countFailing(db, settings.flagAfter),
    overdueDevices: () => devices.countOverdue(db, new Date(clock.now().getTime() - settings.maxAgeSeconds * 1000).toISOString()),
  };
}

/** The composition root: reads like the data-flow diagram of ARCHITECTURE.md. */
export async function createServices(config: Config, infra: Infra) {
  const { db, clock } = infra;
  const metrics = createMetrics({ now: () => clock.now() });
  const transactor = createTransactor(db, {
    maxBatch: config.store.maxBatch,
    maxBatchMs: config.store.maxBatchMs,
    onCommit: (seconds, units) => {
      metrics.commit(seconds, units);
      // A transaction holds the event loop: one this long delays every request waiting behind it.
      if (seconds > 0.025) infra.logger.warn({ ms: Math.round(seconds * 1000), units }, 'slow store transaction');
    },
  });
  const audit = createAuditLog({ db, clock });
  const vault = vaultBackends[config.vault.backend]({ db, dataDir: config.dataDir, clock, transactor });
  const credentials = createCredentialService({ db, vault, clock, passwords: { defaults: config.password, byGroup: config.passwordByGroup } });
  const rotations = createRotationService({ db, transactor, credentials, vault, audit, clock, logger: infra.logger, settings: rotationSettings(config), metrics });
  metrics.setSources(metricsSources(db, clock, rotationSettings(config)));
  const policies = createPolicyService({ db, transactor, audit, clock });
  const devices = createDeviceService({ db, transactor, audit, credentials, rotations, clock });
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
    policies,
    credentials,
    rotations,
    clock,
    postUseDelaySeconds: seconds(config.rotation.postUseDelay),
    ackTimeoutSeconds: seconds(config.rotation.ackTimeout),
  });
  const local = await createLocalIdentity({ dataDir: config.dataDir, ...config.identity.local, clockSkewSeconds: config.identity.clockSkewSeconds, clock });
  const identity = withVerifiedTokenCache(local.provider, {
    clock,
    maxEntries: config.identity.verifyCache.maxEntries,
    maxAgeSeconds: seconds(config.identity.verifyCache.maxAge),
    clockSkewSeconds: config.identity.clockSkewSeconds,
  });
  const { issueToken } = local;
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
    metrics,
    checkpointSigner,
    checkpoints,
    webhooks,
    escalations,
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;
