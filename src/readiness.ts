import type { AuditLog } from './audit/audit-log';
import type { Db } from './store/database';
import type { StoreHealth } from './store/store-health';
import type { Transactor } from './store/transactor';
import type { VaultBackend } from './vault/vault-backend';

/** What /readyz and the start-up ask: the store reads, and takes writes, and the vault answers; throws why not. */
export function createReadiness(deps: { db: Db; storeHealth: StoreHealth; transactor: Transactor; audit: Pick<AuditLog, 'append'>; vault: Pick<VaultBackend, 'check'> }) {
  const { db, storeHealth, transactor, audit, vault } = deps;
  return async function ready(): Promise<void> {
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
}
