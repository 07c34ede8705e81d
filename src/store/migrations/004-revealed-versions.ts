import { Kysely } from 'kysely';

/**
 * When a requester was first shown a version that was still pending (a reveal past
 * rotation.ackTimeout): such a version is a used password, so a rotation asked for after that use
 * must not be satisfied by it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('credential_versions').addColumn('revealed_at', 'text').execute();
}
