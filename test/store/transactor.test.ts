import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { Db, migrate, openSqlite } from '../../src/store/database';
import { createTransactor } from '../../src/store/transactor';
import { DomainError } from '../../src/problems/problem';

describe('group commit', () => {
  let dir: string;
  let db: Db;
  let file: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-tx-'));
    file = path.join(dir, 't.db');
    db = openSqlite(file).db;
    await migrate(db);
  });
  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const insert = (jti: string) => async (tx: Parameters<Parameters<ReturnType<typeof createTransactor>['run']>[0]>[0]) => {
    await tx.insertInto('agent_tokens').values({ jti, device_id: 'd', expires_at: 'x' }).execute();
    return jti;
  };
  const count = () => {
    const other = new BetterSqlite3(file, { readonly: true });
    try {
      return (other.prepare('SELECT count(*) AS n FROM agent_tokens').get() as { n: number }).n;
    } finally {
      other.close();
    }
  };

  it('commits units that wait together in one transaction, and each caller hears only after the commit', async () => {
    const commits: number[] = [];
    const t = createTransactor(db, { maxBatch: 256, maxBatchMs: 1000, onCommit: (_s, units) => commits.push(units) });
    const seen: number[] = [];
    const all = Array.from({ length: 20 }, (_, i) =>
      t.run(insert(`j${i}`)).then(() => {
        // read through another connection: the unit is durable before its promise settles
        seen.push(count());
      }),
    );
    await Promise.all(all);
    expect(commits).toEqual([20]);
    expect(seen.every((n) => n === 20)).toBe(true);
  });

  it('starts no batch while betweenBatches holds it back (the WAL checkpointer), and the event loop stays free meanwhile', async () => {
    let open: () => void = () => undefined;
    let gate: Promise<void> | undefined = new Promise<void>((r) => (open = r));
    const t = createTransactor(db, { maxBatch: 256, maxBatchMs: 1000, betweenBatches: () => gate });
    let done = false;
    const unit = t.run(insert('held')).then(() => (done = true));
    // Timers still fire while the unit waits: the wait is a promise, not a blocked thread.
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(count()).toBe(0);
    gate = undefined;
    open();
    await unit;
    expect(count()).toBe(1);
  });

  it('a unit that fails rolls back alone; the others in its batch commit', async () => {
    const t = createTransactor(db, { maxBatch: 256, maxBatchMs: 1000 });
    const results = await Promise.allSettled([
      t.run(insert('a')),
      t.run(async (tx) => {
        await insert('b')(tx);
        throw new DomainError('conflict', 'changed my mind');
      }),
      t.run(insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'conflict' });
    const jtis = (await db.selectFrom('agent_tokens').select('jti').execute()).map((r) => r.jti).sort();
    expect(jtis).toEqual(['a', 'c']);
  });

  it('a database error inside a unit fails closed as unavailable', async () => {
    const t = createTransactor(db, { maxBatch: 256, maxBatchMs: 1000 });
    await t.run(insert('dup'));
    await expect(t.run(insert('dup'))).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('an error that makes SQLite roll back the whole transaction (a full disk, I/O) fails the units it undid; the next unit gets a transaction of its own', async () => {
    // RAISE(ROLLBACK) undoes the whole transaction, as SQLITE_FULL or SQLITE_IOERR do: the units
    // before it are gone, and a unit after it must not run, and commit, outside any transaction
    // while the batch's callers hear "nothing was done".
    await sql`CREATE TRIGGER boom BEFORE INSERT ON agent_tokens WHEN NEW.jti = 'boom' BEGIN SELECT RAISE(ROLLBACK, 'disk full'); END`.execute(db);
    const t = createTransactor(db, { maxBatch: 256, maxBatchMs: 1000 });
    const results = await Promise.allSettled([t.run(insert('a'), { singleWrite: true }), t.run(insert('boom'), { singleWrite: true }), t.run(insert('c'), { singleWrite: true })]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    for (const r of results.slice(0, 2)) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable' });
    // What its caller was told: 'a' undone with the batch, 'c' committed in a batch of its own.
    expect((await db.selectFrom('agent_tokens').select('jti').execute()).map((r) => r.jti)).toEqual(['c']);
  });

  it('closes a batch at maxBatch units or once it has run maxBatchMs, so no transaction runs long', async () => {
    const sizes: number[] = [];
    const t = createTransactor(db, { maxBatch: 5, maxBatchMs: 1000, onCommit: (_s, units) => sizes.push(units) });
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.run(insert(`m${i}`))));
    expect(sizes).toEqual([5, 5, 2]);
    const slow: number[] = [];
    const timed = createTransactor(db, { maxBatch: 256, maxBatchMs: 20, onCommit: (s, units) => slow.push(units) });
    const busy = (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until);
    };
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        timed.run(async (tx) => {
          busy(8);
          return insert(`s${i}`)(tx);
        }),
      ),
    );
    // 8 ms a unit against a 20 ms budget: a batch takes at most three (the third starts by 16 ms)
    expect(slow.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...slow)).toBeLessThanOrEqual(3);
    expect(slow.length).toBeGreaterThanOrEqual(4);
  });
});
