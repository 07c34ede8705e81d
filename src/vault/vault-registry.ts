import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { createLocalVault } from './local/local-vault';
import { VaultBackend } from './vault-backend';

export type VaultFactory = (deps: { db: Db; dataDir: string; clock: Clock; transactor: Transactor }) => VaultBackend;

/** Every vault backend by its config name; the config's `vault.backend` enum is read off this. */
export const vaultBackends = {
  local: (deps) => createLocalVault(deps),
} satisfies Record<string, VaultFactory>;

export type VaultBackendName = keyof typeof vaultBackends;
export const vaultBackendNames = Object.keys(vaultBackends) as [VaultBackendName, ...VaultBackendName[]];
