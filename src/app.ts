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
import { createElevationService } from './elevation/elevation-service';
import { createEscalationService } from './escalations/escalation-service';
import { createGrantService } from './grants/grant-service';
import { createDeviceIdentity } from './identity/device-identity';
import { identityProviders } from './identity/identity-registry';
import { withVerifiedTokenCache } from './identity/verified-token-cache';
import { Infra } from './infra';
import { createMetrics } from './metrics/metrics';
import { storeMetricsSources } from './metrics/metrics-sources';
import { createPolicyRepository } from './policies/policy-repository';
import { createGrantRepository } from './grants/grant-repository';
import { createEscalationRepository } from './escalations/escalation-repository';
import { createWebhookDeliveryRepository } from './webhooks/webhook-delivery-repository';
import { createAgentTokenRepository } from './identity/agent-token-repository';
import { Db } from './store/database';
import { createPolicyService } from './policies/policy-service';
import { createEntraSignIn } from './portal/entra-sign-in';
import { entraSignInSettings } from './portal/portal-config';
import { createSessionRepository } from './portal/session-repository';
import { createSessionService } from './portal/session-service';
import { createSignInRepository } from './portal/sign-in-repository';
import { createSignInService } from './portal/sign-in-service';
import { createReadiness } from './readiness';
import { createStoreHealth } from './store/store-health';
import { createStoreTransactor } from './store/store-transactor';
import { instrumentVault } from './vault/instrumented-vault';
import { vaultBackends } from './vault/vault-registry';
import { createWebhookService } from './webhooks/webhook-service';

/** One repository per table, each in the folder of the domain that owns it; services get the ones they use. */
function createRepositories(db: Db) {
  return {
    devices: createDeviceRepository(db),
    policies: createPolicyRepository(db),
    grants: createGrantRepository(db),
    versions: createCredentialRepository(db),
    jobs: createRotationJobRepository(db),
    agentTokens: createAgentTokenRepository(db),
    escalations: createEscalationRepository(),
    deliveries: createWebhookDeliveryRepository(),
    sessions: createSessionRepository(),
    signIns: createSignInRepository(),
  };
}

/**
 * The composition root: builds the services on opened infrastructure (src/infra.ts) and the
 * settings read off the config (src/config/settings.ts); reads like the data-flow diagram of ARCHITECTURE.md.
 */
export async function createServices(config: Config, infra: Infra) {
  const { db, clock, logger, env, checkpointer } = infra;
  const { dataDir } = config;
  const settings = serviceSettings(config);
  const repos = createRepositories(db);
  const metrics = createMetrics({ now: () => clock.now() });
  const storeHealth = createStoreHealth({ logger, clock, metrics });
  const audit = createAuditLog({ db, clock, onAppend: (seconds) => metrics.auditAppend(seconds) });
  const transactor = createStoreTransactor(db, { settings: config.store, lockChain: (tx) => audit.lockChain(tx), health: storeHealth, metrics, checkpointer, logger });
  const vault = instrumentVault(vaultBackends[config.vault.backend]({ db, dataDir, clock, transactor, logger, vault: config.vault, env }), config.vault.backend, metrics);
  const credentials = createCredentialService({ db, versions: repos.versions, vault, clock, passwords: { defaults: config.password, byGroup: config.passwordByGroup } });
  const rotations = createRotationService({
    db,
    versions: repos.versions,
    jobs: repos.jobs,
    devices: repos.devices,
    grants: repos.grants,
    transactor,
    credentials,
    vault,
    audit,
    clock,
    logger,
    settings: settings.rotation,
    metrics,
  });
  metrics.setSources(storeMetricsSources({ db, clock, devices: repos.devices, jobs: repos.jobs, versions: repos.versions, settings: settings.rotation }));
  const webhooks = createWebhookService({ db, deliveries: repos.deliveries, transactor, clock, logger, settings: settings.webhooks });
  const grants = createGrantService({
    db,
    grants: repos.grants,
    devices: repos.devices,
    policies: repos.policies,
    transactor,
    audit,
    webhooks,
    credentials,
    rotations,
    clock,
    metrics,
    ...settings.grants,
  });
  // After grants: a policy change and a device's retirement end grants through the grant state machine.
  const policies = createPolicyService({ db, transactor, policies: repos.policies, grants, audit, clock });
  const elevation = createElevationService({ db, devices: repos.devices, policies: repos.policies, grants: repos.grants, clock });
  const devices = createDeviceService({ db, devices: repos.devices, transactor, audit, credentials, rotations, grants, clock });
  const identitySetup = await identityProviders[config.identity.mode](settings.identity, { dataDir, clock, logger });
  const identity = withVerifiedTokenCache(identitySetup.provider, { clock, ...settings.verifyCache });
  const { issueToken } = identitySetup;
  const deviceIdentity = createDeviceIdentity({ db, devices: repos.devices, agentTokens: repos.agentTokens, transactor, clock, ...settings.deviceIdentity });
  const escalations = createEscalationService({ db, escalations: repos.escalations, transactor, audit, webhooks, clock, settings: config.escalations });
  const checkpointSigner = loadCheckpointSigner(dataDir);
  const checkpoints = createAuditCheckpoints({ db, transactor, audit, signer: checkpointSigner, clock, dataDir, logger, settings: settings.checkpoints });
  const auditService = createAuditService({ audit, transactor, signer: checkpointSigner, checkpoints });
  const sessions = createSessionService({ db, sessions: repos.sessions, transactor, audit, clock, settings: settings.sessions });
  const entra = config.identity.mode === 'oidc' ? entraSignInSettings(config.portal, config.identity.oidc, env) : { missing: 'identity.mode is local: sign in at /dev-sign-in.' };
  // The API serves bearer tokens without the portal's app registration; the portal's sign-in says what it lacks.
  if (config.identity.mode === 'oidc' && 'missing' in entra) logger.warn(entra.missing);
  const signIn = createSignInService({
    identityMode: config.identity.mode,
    identity,
    issueToken,
    entra: 'settings' in entra ? { signIn: createEntraSignIn(entra.settings) } : entra,
    sessions,
    signIns: repos.signIns,
    transactor,
    audit,
    clock,
    logger,
    sessionMaxAgeSeconds: settings.sessions.absoluteSeconds,
  });
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
    elevation,
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
    signIn,
  };
}

export type Services = Awaited<ReturnType<typeof createServices>>;
