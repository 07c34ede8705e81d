import { Kysely } from 'kysely';

/**
 * The portal's Entra sign-ins between the redirect to Entra and the browser's return: one row per
 * sign-in begun, keyed by the SHA-256 of its `state` (the browser holds the state itself, in the
 * binding cookie and the callback's query), consumed by a delete, so a state is good once, on any
 * daemon of a shared store. `replaces_session`: the hash of the session the browser held when it
 * began (its SameSite=Strict cookie does not come back on Entra's cross-site redirect), ended when
 * the new one starts. `auth_contexts_until` on a session: the `acrs` of the sign-in count
 * until the access token they came from expires, no longer (a step-up is as fresh as its token).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('portal_sign_ins')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('return_to', 'text', (c) => c.notNull())
    .addColumn('auth_context', 'text')
    .addColumn('replaces_session', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  // Pruning reads by expiry.
  await db.schema.createIndex('portal_sign_ins_expires').on('portal_sign_ins').column('expires_at').execute();
  await db.schema.alterTable('portal_sessions').addColumn('auth_contexts_until', 'text').execute();
}
