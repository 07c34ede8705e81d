import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { migrate, openSqlite } from '../../src/store/database';

// Errors from native code (better-sqlite3, node:crypto) are built in the realm that first loaded
// it, so when Jest reuses a worker they are not `instanceof Error` here: match their fields instead.
describe('the SQLite store is durable and private', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-store-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens in WAL mode with synchronous=FULL, in a 0700 directory, with a 0600 file', async () => {
    const file = path.join(dir, 'nested', 'jitbroker.db');
    const { db, sqlite } = openSqlite(file);
    try {
      await migrate(db);
      expect(sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(sqlite.pragma('synchronous', { simple: true })).toBe(2);
      expect(sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      await db.destroy();
    }
  });

  it('the database itself refuses to update or delete an audit event', async () => {
    const { db } = openSqlite(path.join(dir, 'audit.db'));
    try {
      await migrate(db);
      await db
        .insertInto('audit_events')
        .values({ seq: 1, at: 'x', actor: 'a', action: 'b', outcome: 'success', device_id: null, target: null, request_id: null, canonical: '{}', prev_hash: '0', hash: '1' })
        .execute();
      await expect(db.updateTable('audit_events').set({ actor: 'mallory' }).execute()).rejects.toMatchObject({ message: expect.stringMatching(/append-only/) });
      await expect(db.deleteFrom('audit_events').execute()).rejects.toMatchObject({ message: expect.stringMatching(/append-only/) });
      const n = await sql<{ n: number }>`SELECT count(*) AS n FROM audit_events WHERE actor = 'a'`.execute(db);
      expect(n.rows[0]?.n).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  it('migrating twice is a no-op', async () => {
    const { db } = openSqlite(path.join(dir, 'twice.db'));
    try {
      await migrate(db);
      await migrate(db);
      const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
      expect(rows.rows.map((r) => r.name)).toEqual(['001-initial', '002-rotation', '003-escalations-webhooks', '004-revealed-versions', '005-unpruned-versions']);
    } finally {
      await db.destroy();
    }
  });

  it('keeps one open grant per requester and device, one current and one pending version per device, in the schema', async () => {
    const { db } = openSqlite(path.join(dir, 'unique.db'));
    try {
      await migrate(db);
      await db
        .insertInto('devices')
        .values({
          id: 'd',
          display_name: 'd',
          groups: '[]',
          account: 'a',
          agent_key: '{}',
          status: 'active',
          created_at: 'x',
          retired_at: null,
          last_rotated_at: null,
          next_due: null,
          rotation_failures: 0,
          rotation_error: null,
        })
        .execute();
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
      });
      await db.insertInto('credential_versions').values(version(1, 'current')).execute();
      await expect(db.insertInto('credential_versions').values(version(2, 'current')).execute()).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
      await db.insertInto('credential_versions').values(version(3, 'pending')).execute();
      await expect(db.insertInto('credential_versions').values(version(4, 'pending')).execute()).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    } finally {
      await db.destroy();
    }
  });
});
