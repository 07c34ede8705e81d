import { Kysely, sql } from 'kysely';
import { Database } from '../../src/store/schema';

/** How a store names the constraint it refused a write for (better-sqlite3's code, or PostgreSQL's SQLSTATE). */
export interface ConstraintCodes {
  unique: string;
  foreignKey: string;
}

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

/**
 * What the schema itself keeps, whatever the code above it does: written once, run on SQLite
 * (test/store/database.test.ts) and on PostgreSQL (test/store/postgres-store.test.ts). `db` gives a
 * migrated, empty database, opened in the caller's beforeAll.
 */
export function schemaInvariants(name: string, db: () => Kysely<Database>, codes: ConstraintCodes): void {
  describe(`the ${name} schema keeps its invariants`, () => {
    it('the database itself refuses to update or delete an audit event', async () => {
      await db()
        .insertInto('audit_events')
        .values([event(1), event(2)])
        .execute();
      await expect(db().updateTable('audit_events').set({ actor: 'mallory' }).where('seq', '=', 1).execute()).rejects.toMatchObject({ message: 'audit events are append-only' });
      await expect(db().deleteFrom('audit_events').where('seq', '=', 2).execute()).rejects.toMatchObject({ message: 'audit events are append-only' });
      await expect(db().deleteFrom('audit_events').execute()).rejects.toMatchObject({ message: 'audit events are append-only' });
      const rows = await db().selectFrom('audit_events').select(['seq', 'actor']).orderBy('seq').execute();
      expect(rows).toEqual([
        { seq: 1, actor: 'a' },
        { seq: 2, actor: 'a' },
      ]);
      const n = await sql<{ n: number }>`SELECT count(*) AS n FROM audit_events WHERE actor = 'a'`.execute(db());
      expect(Number(n.rows[0]?.n)).toBe(2);
    });

    it('keeps the partial unique indexes and foreign keys: one current and one pending version per device, one open job', async () => {
      await db().insertInto('devices').values(device).execute();
      await db().insertInto('credential_versions').values(version(1, 'current')).execute();
      await expect(db().insertInto('credential_versions').values(version(2, 'current')).execute()).rejects.toMatchObject({ code: codes.unique });
      await db().insertInto('credential_versions').values(version(3, 'pending')).execute();
      await expect(db().insertInto('credential_versions').values(version(4, 'pending')).execute()).rejects.toMatchObject({ code: codes.unique });
      // and the foreign key to devices holds
      await expect(
        db()
          .insertInto('credential_versions')
          .values({ ...version(5, 'pending'), device_id: 'nope' })
          .execute(),
      ).rejects.toMatchObject({ code: codes.foreignKey });
      await db()
        .insertInto('rotation_jobs')
        .values([job('j1', 'open'), job('j2', 'done'), job('j3', 'done')])
        .execute();
      await expect(db().insertInto('rotation_jobs').values(job('j4', 'open')).execute()).rejects.toMatchObject({ code: codes.unique });
    });
  });
}
