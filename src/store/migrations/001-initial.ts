import { Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect';

export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = isPostgres(db);
  // SQLite keeps the types it was created with; PostgreSQL has no blob, its byte string is bytea.
  const bytes = pg ? 'bytea' : 'blob';
  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('groups', 'text', (c) => c.notNull())
    .addColumn('account', 'text', (c) => c.notNull())
    .addColumn('agent_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .addColumn('last_rotated_at', 'text')
    .addColumn('next_due', 'text')
    .execute();
  // Due rotations are found through this index: O(due), not a scan of the fleet.
  await db.schema.createIndex('devices_next_due').on('devices').column('next_due').execute();

  await db.schema
    .createTable('policies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('principals', 'text', (c) => c.notNull())
    .addColumn('device_groups', 'text', (c) => c.notNull())
    .addColumn('max_duration', 'text', (c) => c.notNull())
    .addColumn('require_ticket', 'integer', (c) => c.notNull())
    .addColumn('ticket_pattern', 'text')
    .addColumn('require_approval', 'integer', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('requester', 'text', (c) => c.notNull())
    .addColumn('requester_name', 'text')
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('ticket', 'text')
    .addColumn('duration', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('policy_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('activated_at', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('decided_at', 'text')
    .addColumn('decision_comment', 'text')
    .addColumn('ended_by', 'text')
    .addColumn('ended_at', 'text')
    .addColumn('end_reason', 'text')
    .execute();
  // One open grant per requester and device, enforced by the database, not by a read-then-write.
  await db.schema
    .createIndex('grants_one_open_per_requester_device')
    .on('grants')
    .columns(['requester', 'device_id'])
    .unique()
    .where(sql.ref('state'), 'in', ['pending', 'active'])
    .execute();
  await db.schema.createIndex('grants_device_state').on('grants').columns(['device_id', 'state']).execute();
  await db.schema.createIndex('grants_state_expires').on('grants').columns(['state', 'expires_at']).execute();

  await db.schema
    .createTable('credential_versions')
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('vault_ref', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('fetched_at', 'text')
    .addColumn('acknowledged_at', 'text')
    .addColumn('superseded_at', 'text')
    .addColumn('error', 'text')
    .addPrimaryKeyConstraint('credential_versions_pk', ['device_id', 'version'])
    .execute();
  // At most one current and one pending version per device, kept by the database.
  await db.schema.createIndex('credential_versions_one_current').on('credential_versions').column('device_id').unique().where(sql.ref('state'), '=', 'current').execute();
  await db.schema.createIndex('credential_versions_one_pending').on('credential_versions').column('device_id').unique().where(sql.ref('state'), '=', 'pending').execute();

  await db.schema
    .createTable('rotation_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('due_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rotation_jobs_one_open').on('rotation_jobs').column('device_id').unique().where(sql.ref('state'), '=', 'open').execute();
  await db.schema.createIndex('rotation_jobs_state_due').on('rotation_jobs').columns(['state', 'due_at']).execute();

  await db.schema
    .createTable('vault_secrets')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('iv', bytes, (c) => c.notNull())
    .addColumn('tag', bytes, (c) => c.notNull())
    .addColumn('ciphertext', bytes, (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('vault_secrets_pk', ['name', 'version'])
    .execute();

  await db.schema
    .createTable('agent_tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('agent_tokens_expires').on('agent_tokens').column('expires_at').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('seq', 'integer', (c) => c.primaryKey())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text')
    .addColumn('target', 'text')
    .addColumn('request_id', 'text')
    .addColumn('canonical', 'text', (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();
  for (const col of ['actor', 'device_id', 'action', 'at', 'request_id'] as const) {
    await db.schema.createIndex(`audit_events_${col}_seq`).on('audit_events').columns([col, 'seq']).execute();
  }
  // The database itself refuses to change or remove an audit event.
  if (pg) {
    await sql`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'restrict_violation'; END $$`.execute(
      db,
    );
    await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    // A row trigger does not fire on TRUNCATE, which would empty the log at once.
    await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    return;
  }
  await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`.execute(db);
  await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`.execute(db);
}
