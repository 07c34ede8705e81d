import { Kysely, sql } from 'kysely';
import { SchemaNewerThanBuild, appliedMigrations, knownMigrations, migrate } from '../../src/store/database';
import { isPostgres } from '../../src/store/dialect';
import { openPostgres } from '../../src/store/postgres';
import { Database } from '../../src/store/schema';
import { findPostgresBin, startPostgres, TestPostgres } from '../support/postgres';

const event = (seq: number) => ({
  seq,
  at: '2026-01-01T00:00:00.000Z',
  actor: 'a',
  action: 'b',
  outcome: 'success' as const,
  device_id: null,
  target: null,
  request_id: null,
  canonical: '{}',
  prev_hash: '0',
  hash: String(seq),
});

const device = {
  id: 'd',
  display_name: 'd',
  groups: '[]',
  account: 'a',
  agent_key: '{}',
  status: 'active' as const,
  created_at: 'x',
  retired_at: null,
  last_rotated_at: null,
  next_due: null,
  rotation_failures: 0,
  rotation_error: null,
};

describe('the numbered migrations on PostgreSQL', () => {
  let pg: TestPostgres;
  let db: Kysely<Database>;
  beforeAll(async () => {
    pg = await startPostgres();
    db = openPostgres(pg.url);
  });
  afterAll(async () => {
    await db?.destroy();
    await pg?.stop();
  });

  it('apply on an empty database, then are a no-op', async () => {
    expect(isPostgres(db as unknown as Kysely<unknown>)).toBe(true);
    expect(await migrate(db)).toEqual(knownMigrations);
    expect(await migrate(db)).toEqual([]);
    expect(await appliedMigrations(db)).toEqual(knownMigrations);
    const tables = (await db.introspection.getTables()).map((t) => t.name).sort();
    expect(tables).toEqual([
      'agent_tokens',
      'audit_events',
      'credential_versions',
      'devices',
      'escalations',
      'grants',
      'policies',
      'rotation_jobs',
      'vault_secrets',
      'webhook_deliveries',
    ]);
  });

  it('stores vault ciphertext as bytea and gives back the same bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    await db
      .insertInto('vault_secrets')
      .values({ name: 'n', version: 1, iv: bytes, tag: Buffer.alloc(16, 9), ciphertext: Buffer.alloc(0), created_at: 'x' })
      .execute();
    const row = await db.selectFrom('vault_secrets').selectAll().where('name', '=', 'n').executeTakeFirstOrThrow();
    expect(Buffer.compare(row.iv, bytes)).toBe(0);
    expect(row.ciphertext).toHaveLength(0);
    const type = await sql<{ t: string }>`SELECT data_type AS t FROM information_schema.columns WHERE table_name = 'vault_secrets' AND column_name = 'ciphertext'`.execute(db);
    expect(type.rows[0]?.t).toBe('bytea');
  });

  it('the database itself refuses to update, delete or truncate an audit event', async () => {
    await db
      .insertInto('audit_events')
      .values([event(1), event(2)])
      .execute();
    await expect(db.updateTable('audit_events').set({ actor: 'mallory' }).where('seq', '=', 1).execute()).rejects.toMatchObject({ message: 'audit events are append-only' });
    await expect(db.deleteFrom('audit_events').where('seq', '=', 2).execute()).rejects.toMatchObject({ message: 'audit events are append-only' });
    await expect(sql`TRUNCATE audit_events`.execute(db)).rejects.toMatchObject({ message: 'audit events are append-only' });
    const rows = await db.selectFrom('audit_events').select(['seq', 'actor']).orderBy('seq').execute();
    expect(rows).toEqual([
      { seq: 1, actor: 'a' },
      { seq: 2, actor: 'a' },
    ]);
  });

  it('keeps the partial unique indexes and foreign keys: one current and one pending version per device, one open job', async () => {
    await db.insertInto('devices').values(device).execute();
    const version = (v: number, state: 'pending' | 'current') => ({
      device_id: 'd',
      version: v,
      state,
      reason: 'initial' as const,
      vault_ref: 'r',
      created_at: 'x',
      fetched_at: null,
      acknowledged_at: null,
      superseded_at: null,
      error: null,
      vault_pruned_at: null,
      revealed_at: null,
    });
    await db.insertInto('credential_versions').values(version(1, 'current')).execute();
    await expect(db.insertInto('credential_versions').values(version(2, 'current')).execute()).rejects.toMatchObject({ code: '23505' });
    await db.insertInto('credential_versions').values(version(3, 'pending')).execute();
    await expect(db.insertInto('credential_versions').values(version(4, 'pending')).execute()).rejects.toMatchObject({ code: '23505' });
    // and the foreign key to devices holds
    await expect(
      db
        .insertInto('credential_versions')
        .values({ ...version(5, 'pending'), device_id: 'nope' })
        .execute(),
    ).rejects.toMatchObject({ code: '23503' });
    const job = (id: string, state: 'open' | 'done') => ({
      id,
      device_id: 'd',
      reason: 'scheduled' as const,
      due_at: 'x',
      attempts: 0,
      last_error: null,
      state,
      created_at: 'x',
      claimed_until: null,
      done_at: null,
      outcome: null,
    });
    await db
      .insertInto('rotation_jobs')
      .values([job('j1', 'open'), job('j2', 'done'), job('j3', 'done')])
      .execute();
    await expect(db.insertInto('rotation_jobs').values(job('j4', 'open')).execute()).rejects.toMatchObject({ code: '23505' });
  });

  it('refuses a schema newer than this build, naming the migration', async () => {
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('999-from-the-future', '2030-01-01T00:00:00.000Z')`.execute(db);
    try {
      const refused = migrate(db);
      await expect(refused).rejects.toBeInstanceOf(SchemaNewerThanBuild);
      await expect(migrate(db)).rejects.toThrow(/newer than this build: it has migration 999-from-the-future/);
    } finally {
      await sql`DELETE FROM kysely_migration WHERE name = '999-from-the-future'`.execute(db);
    }
  });
});

describe('the PostgreSQL test harness', () => {
  it('fails loudly, never skips, when the PostgreSQL binaries are missing', () => {
    expect(() => findPostgresBin({ path: '/nonexistent', debianRoot: '/nonexistent' })).toThrow(
      'PostgreSQL binaries (initdb, pg_ctl) are required for the PostgreSQL tests; install postgresql-15',
    );
  });
});
