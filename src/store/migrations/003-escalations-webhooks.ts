import { Kysely } from 'kysely';

/** The escalation portal, the webhook outbox, and an index for audit queries by outcome. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('escalations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('submitter', 'text', (c) => c.notNull())
    .addColumn('submitter_name', 'text')
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .addColumn('device_id', 'text')
    .addColumn('ticket', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('routed_to', 'text', (c) => c.notNull())
    .addColumn('status_note', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('escalations_submitter_created').on('escalations').columns(['submitter', 'created_at', 'id']).execute();
  await db.schema.createIndex('escalations_created').on('escalations').columns(['created_at', 'id']).execute();

  // Written in the same transaction as what they announce; a dispatcher delivers them with retries.
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .execute();
  await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['state', 'next_attempt_at']).execute();

  await db.schema.createIndex('audit_events_outcome_seq').on('audit_events').columns(['outcome', 'seq']).execute();
}
