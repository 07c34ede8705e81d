import { Kysely, sql } from 'kysely';
import { SchemaNewerThanBuild, appliedMigrations, knownMigrations, migrate } from '../../src/store/database';
import { isPostgres } from '../../src/store/dialect';
import { openPostgres } from '../../src/store/postgres';
import { Database } from '../../src/store/schema';
import { findPostgresBin, startPostgres, TestPostgres } from '../support/postgres';
import { schemaInvariants } from './schema-invariants';

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
      'portal_sessions',
      'portal_sign_ins',
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

  schemaInvariants('PostgreSQL', () => db, { unique: '23505', foreignKey: '23503' });

  it('the database itself refuses to truncate an audit event', async () => {
    await expect(sql`TRUNCATE audit_events`.execute(db)).rejects.toMatchObject({ message: 'audit events are append-only' });
    expect(await db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).toEqual([{ seq: 1 }, { seq: 2 }]);
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
