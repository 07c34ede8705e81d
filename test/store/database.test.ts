import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pino from 'pino';
import { openInfra } from '../../src/infra';
import { loadConfig } from '../../src/config/load-config';
import { migrate, openSqlite, readWalState, sqliteHandleOf, walJustCheckpointed } from '../../src/store/database';
import { startWalCheckpointer } from '../../src/store/wal-checkpointer';
import { waitUntil } from '../support/wait-until';
import { createTestApp } from '../support/test-app';
import { schemaInvariants } from './schema-invariants';

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

  it('migrating twice is a no-op', async () => {
    const { db } = openSqlite(path.join(dir, 'twice.db'));
    try {
      await migrate(db);
      await migrate(db);
      const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
      expect(rows.rows.map((r) => r.name)).toEqual([
        '001-initial',
        '002-rotation',
        '003-escalations-webhooks',
        '004-revealed-versions',
        '005-unpruned-versions',
        '006-agent-key-thumbprint',
        '007-grant-coverage',
        '008-portal-sessions',
        '009-portal-sign-ins',
      ]);
    } finally {
      await db.destroy();
    }
  });

  /** Commits `n` rows of most of a page each, one commit per row; then how many frames the WAL holds. */
  function walFramesAfter(sqlite: NonNullable<ReturnType<typeof sqliteHandleOf>>, n: number): number {
    // From an empty WAL: what the migrations left in it must not decide where the threshold falls.
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    sqlite.exec('CREATE TABLE IF NOT EXISTS filler (x TEXT)');
    const insert = sqlite.prepare('INSERT INTO filler (x) VALUES (?)');
    for (let i = 0; i < n; i++) insert.run('x'.repeat(3000));
    // `log` is how many frames the WAL holds now (a checkpoint restarts it only at the next write).
    return (sqlite.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0]?.log ?? -1;
  }

  it("store.checkpoint inline checkpoints after store.checkpointPages pages (250), not SQLite's 1000: a shorter copy holds the commit that makes it", async () => {
    for (const [pages, expectFew] of [
      [undefined, true],
      ['1000', false],
    ] as const) {
      const dataDir = fs.mkdtempSync(path.join(dir, 'ckpt-'));
      const config = loadConfig({ env: { JITBROKER_DATA_DIR: dataDir, JITBROKER_STORE_CHECKPOINT: 'inline', ...(pages ? { JITBROKER_STORE_CHECKPOINT_PAGES: pages } : {}) } });
      const infra = await openInfra(config, { env: {} });
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

  it('tells a commit that ran the automatic checkpoint from one that did not, without checkpointing itself', async () => {
    const { db, sqlite } = openSqlite(path.join(dir, 'just', 'jitbroker.db'), { checkpointPages: 100 });
    try {
      sqlite.exec('CREATE TABLE filler (x TEXT)');
      const insert = sqlite.prepare('INSERT INTO filler (x) VALUES (?)');
      const seen = Array.from({ length: 150 }, () => {
        insert.run('x'.repeat(3000));
        return walJustCheckpointed(sqlite);
      });
      // The commit that took the WAL past 100 frames checkpointed it; the next one started it over.
      const at = seen.indexOf(true);
      expect(at).toBeGreaterThan(20);
      expect(at).toBeLessThan(100);
      expect(seen[at + 1]).toBe(false);
      expect(seen.filter(Boolean).length).toBeLessThan(5);
      // Asking did not checkpoint: with automatic checkpoints off, the WAL keeps growing.
      sqlite.pragma('wal_autocheckpoint = 0');
      for (let i = 0; i < 120; i++) {
        insert.run('y');
        expect(walJustCheckpointed(sqlite)).toBe(false);
      }
    } finally {
      await db.destroy();
    }
  });

  it("store.checkpoint worker: the transactor's commits start checkpoints in a worker thread, never on the main connection", async () => {
    const app = await createTestApp({ JITBROKER_STORE_CHECKPOINT: 'worker', JITBROKER_STORE_CHECKPOINT_PAGES: '100' });
    try {
      const sqlite = sqliteHandleOf(app.db);
      if (!sqlite) throw new Error('not SQLite');
      // Off on the main connection: no commit copies pages back, and this test never checkpoints either.
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      // The WAL header's checkpoint sequence number (bytes 12-15, SQLite's file format) changes each
      // time the WAL starts over, which a write does only once a checkpoint has copied every frame back.
      const sequence = () => fs.readFileSync(`${sqlite.name}-wal`).readUInt32BE(12);
      const first = sequence();
      // 150 commits of about a page each, one at a time through the daemon's own transactor.
      for (let i = 0; i < 150; i++) {
        await app.transactor.run((tx) =>
          tx
            .insertInto('agent_tokens')
            .values({ jti: `${i}-${'x'.repeat(3000)}`, device_id: 'd', expires_at: 'x' })
            .execute(),
        );
      }
      expect(sequence()).not.toBe(first);
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      // Each checkpoint is timed in /metrics: how long it held the batches.
      const metrics = (await app.api.get('/metrics')).text;
      expect(Number(/^jitbroker_store_checkpoint_seconds_count (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      await app.close();
    }
  });

  it('the checkpointer starts one checkpoint once `pages` frames wait, holds batches until it is over, and not again until as many more came', async () => {
    const file = path.join(dir, 'gate', 'jitbroker.db');
    const { db, sqlite } = openSqlite(file, { checkpointPages: 1000 });
    const checkpointer = startWalCheckpointer(sqlite, file, { pages: 50, logger: pino({ level: 'silent' }) });
    const held: number[] = [];
    checkpointer.onCheckpoint((seconds) => held.push(seconds));
    try {
      sqlite.exec('CREATE TABLE filler (x TEXT)');
      const insert = sqlite.prepare('INSERT INTO filler (x) VALUES (?)');
      for (let i = 0; i < 10; i++) insert.run('x'.repeat(3000));
      checkpointer.committed();
      // ~20 frames: too few to start one.
      expect(checkpointer.gate()).toBeUndefined();
      for (let i = 0; i < 30; i++) insert.run('x'.repeat(3000));
      checkpointer.committed();
      const gate = checkpointer.gate();
      expect(gate).toBeInstanceOf(Promise);
      // A second commit meanwhile does not start a second one.
      checkpointer.committed();
      expect(checkpointer.gate()).toBe(gate);
      await gate;
      expect(checkpointer.gate()).toBeUndefined();
      expect(held).toHaveLength(1);
      expect(held[0]).toBeGreaterThan(0);
      expect(held[0]).toBeLessThan(10);
      const after = readWalState(sqlite);
      expect(after?.log).toBeGreaterThan(50);
      expect(after?.checkpointed).toBe(after?.log);
      // The next write starts the WAL over; a few frames start nothing.
      insert.run('y');
      checkpointer.committed();
      expect(checkpointer.gate()).toBeUndefined();
    } finally {
      await checkpointer.stop();
      await db.destroy();
    }
  });

  it('when the checkpoint worker dies, checkpoints come back on the main connection, at its own threshold, and it is logged', async () => {
    const file = path.join(dir, 'fallback', 'jitbroker.db');
    const { db, sqlite } = openSqlite(file, { checkpointPages: 300 });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    // The worker cannot open this file (it must exist), so it fails as it starts.
    const checkpointer = startWalCheckpointer(sqlite, path.join(dir, 'no-such-dir', 'x.db'), { pages: 300, logger });
    try {
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      await waitUntil('automatic checkpoints back at 300 pages', () => sqlite.pragma('wal_autocheckpoint', { simple: true }) === 300, { timeoutMs: 5000 });
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(300);
      // Logged once, as an error, though the worker reports both its error and its exit.
      await new Promise((r) => setTimeout(r, 100));
      const stopped = lines
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.msg === 'WAL checkpointer stopped; checkpoints run on the main connection again');
      expect(stopped).toEqual([expect.objectContaining({ level: 50 })]);
      // Shutting down with a dead worker returns (it waited forever for an exit that had happened).
      await checkpointer.stop();
    } finally {
      await checkpointer.stop();
      await db.destroy();
    }
  });
});

describe('on SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-schema-'));
  let store: ReturnType<typeof openSqlite>;
  beforeAll(async () => {
    store = openSqlite(path.join(dir, 'schema.db'));
    await migrate(store.db);
  });
  afterAll(async () => {
    await store?.db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  schemaInvariants('SQLite', () => store.db, { unique: 'SQLITE_CONSTRAINT_UNIQUE', foreignKey: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
});
