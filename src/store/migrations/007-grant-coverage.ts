import { Kysely } from 'kysely';

/**
 * What a policy change and an approval need to decide a grant again, and which grants used the password:
 * - requester_groups, requester_roles: the requester's groups and roles as the request was decided
 *   (policies designate by them; a later policy change re-decides the open grants with them);
 * - requester_logins: the requester's sign-in names (UPN, e-mail), a second key that keeps a guest
 *   with another object id in another tenant from approving their own request;
 * - revealed_version: the credential version last shown under the grant; a grant with one is a used
 *   password, which dies with the grant whatever other grants are live on the device.
 * NULL on grants made before this migration: they stand while their own policy still allows them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('grants').addColumn('requester_groups', 'text').execute();
  await db.schema.alterTable('grants').addColumn('requester_roles', 'text').execute();
  await db.schema.alterTable('grants').addColumn('requester_logins', 'text').execute();
  await db.schema.alterTable('grants').addColumn('revealed_version', 'integer').execute();
  // A policy change reads the open grants it made.
  await db.schema.createIndex('grants_policy_open').on('grants').columns(['policy_id', 'state']).execute();
}
