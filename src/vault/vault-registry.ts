import { Logger } from 'pino';
import type { Config } from '../config/config-schema';
import { StartupRefused } from '../startup/startup-refused';
import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { createLocalVault } from './local/local-vault';
import { VaultBackend } from './vault-backend';
import { VaultBackendName } from './vault-names';

export interface VaultDeps {
  db: Db;
  dataDir: string;
  clock: Clock;
  transactor: Transactor;
  logger: Logger;
  vault: Config['vault'];
  env: NodeJS.ProcessEnv;
}

export type VaultFactory = (deps: VaultDeps) => VaultBackend;

/** A setting that stops the daemon before it listens; its message names the key. */
export class VaultConfigError extends StartupRefused {
  override name = 'VaultConfigError';
  constructor(problem: string) {
    super([problem]);
  }
}

function azureKeyVault(deps: VaultDeps): VaultBackend {
  // Loaded only when configured: the Azure SDKs take about half a second to load, which every CLI command would pay.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createCredential, credentialProblem } = require('./azure/azure-credential') as typeof import('./azure/azure-credential');
  const { createAzureKeyVault, readCa } = require('./azure/azure-key-vault') as typeof import('./azure/azure-key-vault');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const a = deps.vault.azure;
  const problem = credentialProblem(a.credential, deps.env);
  if (problem) throw new VaultConfigError(problem);
  let ca: string | undefined;
  try {
    ca = readCa(a.caFile);
  } catch {
    throw new VaultConfigError(`vault.azure.caFile ${a.caFile}: cannot be read`);
  }
  if (a.disableChallengeResourceVerification) {
    deps.logger.warn(
      { vaultUrl: a.url },
      'vault.azure.disableChallengeResourceVerification is set: the vault host is not checked against the token challenge; use it only with a test vault',
    );
  }
  let credential;
  try {
    credential = createCredential(a.credential, deps.env, ca);
  } catch (e) {
    // What start-up checks did not foresee and the identity library refuses: still one line naming the key, no stack.
    throw new VaultConfigError(`vault.azure.credential: ${e instanceof Error ? e.message : String(e)}`);
  }
  return createAzureKeyVault({
    credential,
    logger: deps.logger,
    settings: {
      url: a.url as string,
      naming: { prefix: a.secretPrefix, versionsPerSecret: a.versionsPerSecret },
      retry: {
        maxRetries: a.maxRetries,
        baseDelayMs: a.retryBaseMs,
        maxDelayMs: a.retryMaxMs,
        attemptTimeoutMs: a.attemptTimeoutSeconds * 1000,
        deadlineMs: a.deadlineSeconds * 1000,
      },
      readDeadlineMs: a.readDeadlineSeconds * 1000,
      writes: { limit: a.writesPer10Seconds, perSeconds: 10 },
      readyCacheMs: a.readyCacheSeconds * 1000,
      ca,
      disableChallengeResourceVerification: a.disableChallengeResourceVerification,
    },
  });
}

/** Every vault backend by its config name (vault-names.ts lists the names the config accepts). */
export const vaultBackends: Record<VaultBackendName, VaultFactory> = {
  local: (deps) => createLocalVault(deps),
  'azure-keyvault': azureKeyVault,
};
