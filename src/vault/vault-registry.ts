import { Config } from '../config/config-schema';
import { Db } from '../store/database';
import { Clock } from '../time/clock';
import { createLocalVault } from './local/local-vault';
import { VaultBackend } from './vault-backend';

export type VaultFactory = (deps: { db: Db; dataDir: string; clock: Clock; config: Config['vault'] }) => VaultBackend;

export const vaultBackends = {
  local: (deps) => createLocalVault(deps),
} satisfies Record<Config['vault']['backend'], VaultFactory>;
