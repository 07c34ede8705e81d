import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openInfra } from '../../src/app';
import { loadConfig } from '../../src/config/load-config';
import { migrate, openSqlite, sqliteHandleOf } from '../../src/store/database';

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

  /** Commits `n` rows of most of a page each, one commit per row; then how many frames the WAL holds. */
  function walFramesAfter(sqlite: NonNullable<ReturnType<typeof sqliteHandleOf>>, n: number): number {
    sqlite.exec('CREATE TABLE IF NOT EXISTS filler (x TEXT)');
    const insert = sqlite.prepare('INSERT INTO filler (x) VALUES (?)');
    for (let i = 0; i < n; i++) insert.run('x'.repeat(3000));
    // `log` is how many frames the WAL holds now (a checkpoint restarts it only at the next write).
    return (sqlite.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]?.log ?? -1;
  }

  it("checkpoints inline after store.checkpointPages pages (250), not SQLite's 1000: a shorter copy holds the commit that makes it", async () => {
    for (const [pages, expectFew] of [
      [undefined, true],
      ['1000', false],
    ] as const) {
      const dataDir = fs.mkdtempSync(path.join(dir, 'ckpt-'));
      const config = loadConfig({ env: { JITBROKER_DATA_DIR: dataDir, ...(pages ? { JITBROKER_STORE_CHECKPOINT_PAGES: pages } : {}) } });
      const infra = await openInfra(config);
      try {
        const sqlite = sqliteHandleOf(infra.db);
        if (!sqlite) throw new Error('not SQLite');
        expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(pages ? 1000 : 250);
        // 200 commits of a new page each (and the page above it): with 250 the WAL was checkpointed and
        // restarted on the way, with 1000 it still holds every frame.
        const frames = walFramesAfter(sqlite, 200);
        if (expectFew) expect(frames).toBeLessThan(250);
        else expect(frames).toBeGreaterThan(400);
      } finally {
        await infra.close();
      }
    }
  });
});
