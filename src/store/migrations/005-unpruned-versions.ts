import { Kysely, sql } from 'kysely';

/**
 * The versions whose secret is still in the vault (vault_pruned_at IS NULL): a device's current and
 * pending versions, its recent history and whatever is due to be pruned, a handful per device
 * however long it has been rotated. Pruning after each rotation reads only these, not every version
 * the device ever had.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('credential_versions_unpruned').on('credential_versions').columns(['device_id', 'version']).where(sql.ref('vault_pruned_at'), 'is', null).execute();
}
