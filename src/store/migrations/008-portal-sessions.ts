import { Kysely } from 'kysely';

/**
 * The portal's sign-in sessions, kept server-side so any daemon on a shared store serves them and
 * signing out ends them everywhere. The browser holds only the session id, in an HttpOnly cookie;
 * the store holds its SHA-256, so a copy of the store (a backup, a replica) signs nobody in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('portal_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('principal', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('ended_reason', 'text')
    .execute();
  // Pruning reads by expiry; an admin ending someone's sessions reads by subject.
  await db.schema.createIndex('portal_sessions_expires').on('portal_sessions').column('expires_at').execute();
  await db.schema.createIndex('portal_sessions_subject').on('portal_sessions').column('subject').execute();
}
