import { Kysely } from 'kysely';

/** Rotation you can trust: failure tracking on devices, vault pruning of old versions, job leases. */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Consecutive failed rotations (vault errors, failed sets); reset by the next acknowledged password.
  await db.schema
    .alterTable('devices')
    .addColumn('rotation_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('devices').addColumn('rotation_error', 'text').execute();
  // A superseded version beyond rotation.history is removed from the vault; the row stays for the record.
  await db.schema.alterTable('credential_versions').addColumn('vault_pruned_at', 'text').execute();
  // A worker holds a job until this time; another may take it after (a worker that died lets it go).
  await db.schema.alterTable('rotation_jobs').addColumn('claimed_until', 'text').execute();
  await db.schema.alterTable('rotation_jobs').addColumn('done_at', 'text').execute();
  await db.schema.alterTable('rotation_jobs').addColumn('outcome', 'text').execute();
  // The metrics count failing and overdue devices by range reads, not fleet scans.
  await db.schema.createIndex('devices_rotation_failures').on('devices').column('rotation_failures').execute();
  await db.schema.createIndex('devices_last_rotated_at').on('devices').column('last_rotated_at').execute();
}
