import { createAuditCheckpoints } from './audit/audit-checkpoints';
import { createAuditLog } from './audit/audit-log';
import { createAuditService } from './audit/audit-service';
import { loadCheckpointSigner } from './audit/checkpoint-signer';
import { Config } from './config/config-schema';
import { serviceSettings } from './config/settings';
import { createCredentialRepository } from './credentials/credential-repository';
import { createCredentialService } from './credentials/credential-service';
import { createRotationJobRepository } from './credentials/rotation-job-repository';
import { createRotationService } from './credentials/rotation-service';
import { createDeviceRepository } from './devices/device-repository';
import { createDeviceService } from './devices/device-service';
import { createEscalationService } from './escalations/escalation-service';
import { createGrantService } from './grants/grant-service';
import { createDeviceIdentity } from './identity/device-identity';
import { identityProviders } from './identity/identity-registry';
import { withVerifiedTokenCache } from './identity/verified-token-cache';
import { Infra } from './infra';
import { createMetrics } from './metrics/metrics';
import { storeMetricsSources } from './metrics/metrics-sources';
import { createPolicyRepository } from './policies/policy-repository';
import { createPolicyService } from './policies/policy-service';
import { createReadiness } from './readiness';
import { createStoreHealth } from './store/store-health';
import { createStoreTransactor } from './store/store-transactor';
import { instrumentVault } from './vault/instrumented-vault';
import { vaultBackends } from './vault/vault-registry';
import { createWebhookService } from './webhooks/webhook-service';

/**
 * The composition root: builds the services on opened infrastructure (src/infra.ts) and the
 * settings read off the config (src/config/settings.ts); reads like the data-flow diagram of ARCHITECTURE.md.
 */
export async function createServices(config: Config, infra: Infra) {
  const { db, clock, logger, env, checkpointer } = infra;
  const { dataDir } = config;
  const settings = serviceSettings(config);
  const metrics = createMetrics({ now: () => clock.now() });
  const storeHealth = createStoreHealth({ logger, clock, metrics });
  const audit = createAuditLog({ db, clock, onAppend: (seconds) => metrics.auditAppend(seconds) });
  const transactor = createStoreTransactor(db, { settings: config.store, lockChain: (tx) => audit.lockChain(tx), health: storeHealth, metrics, checkpointer, logger });
  const vault = instrumentVault(vaultBackends[config.vault.backend]({ db, dataDir, clock, transactor, logger, vault: config.vault, env }), config.vault.backend, metrics);
  const credentials = createCredentialService({ db, vault, clock, passwords: { defaults: config.password, byGroup: config.passwordByGroup } });
  const rotations = createRotationService({ db, transactor, credentials, vault, audit, clock, logger, settings: settings.rotation, metrics });
  const gauges = { devices: createDeviceRepository(db), jobs: createRotationJobRepository(db), versions: createCredentialRepository(db) };
  metrics.setSources(storeMetricsSources({ db, clock, ...gauges, settings: settings.rotation }));
  const policyRepository = createPolicyRepository(db);
  const webhooks = createWebhookService({ db, transactor, clock, logger, settings: settings.webhooks });
  const grants = createGrantService({ db, transactor, audit, webhooks, policies: policyRepository, credentials, rotations, clock, metrics, ...settings.grants });
  // After grants: a policy change and a device's retirement end grants through the grant state machine.
  const policies = createPolicyService({ db, transactor, policies: policyRepository, grants, audit, clock });
  const devices = createDeviceService({ db, transactor, audit, credentials, rotations, grants, clock });
  const signIn = await identityProviders[config.identity.mode](settings.identity, { dataDir, clock, logger });
  const identity = withVerifiedTokenCache(signIn.provider, { clock, ...settings.verifyCache });
  const { issueToken } = signIn;
  const deviceIdentity = createDeviceIdentity({ db, transactor, clock, ...settings.deviceIdentity });
  const escalations = createEscalationService({ db, transactor, audit, webhooks, clock, settings: config.escalations });
  const checkpointSigner = loadCheckpointSigner(dataDir);
  const checkpoints = createAuditCheckpoints({ db, transactor, audit, signer: checkpointSigner, clock, dataDir, logger, settings: settings.checkpoints });
  const auditService = createAuditService({ audit, transactor, signer: checkpointSigner, checkpoints });
  const ready = createReadiness({ db, storeHealth, transactor, audit, vault });
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
    auditService,
    webhooks,
    escalations,
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;
