import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openSqlite } from '../../src/store/database';
import { prepareQuery } from '../../src/store/prepared-query';

describe('a prepared query runs the SQL Kysely compiled once, with each call`s parameters', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-prepared-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('returns what the same query built each time returns, keeps literal values, and runs inside a transaction', async () => {
    const { db } = openSqlite(path.join(dir, 'p.db'));
    try {
      await migrate(db);
      const insert = prepareQuery(db, (d, p: { id: string; name: string }) =>
        d.insertInto('devices').values({
          id: p.id,
          display_name: p.name,
          groups: '[]',
          account: 'localadmin',
          agent_key: '{}',
          status: 'active',
          created_at: 'x',
          retired_at: null,
          last_rotated_at: null,
          next_due: null,
          rotation_failures: 0,
          rotation_error: null,
        }),
      );
      const byStatus = prepareQuery(db, (d, p: { after: string }) =>
        d.selectFrom('devices').select(['id', 'display_name']).where('status', '=', 'active').where('id', '>', p.after).orderBy('id'),
      );
      await insert(db, { id: 'b', name: 'Bee' });
      await db.transaction().execute(async (tx) => {
        await insert(tx, { id: 'a', name: 'Ay' });
        await insert(tx, { id: 'c', name: 'Cee' });
        expect(await byStatus(tx, { after: '' })).toEqual([
          { id: 'a', display_name: 'Ay' },
          { id: 'b', display_name: 'Bee' },
          { id: 'c', display_name: 'Cee' },
        ]);
      });
      await db.updateTable('devices').set({ status: 'retired' }).where('id', '=', 'c').execute();
      expect(await byStatus(db, { after: 'a' })).toEqual([{ id: 'b', display_name: 'Bee' }]);
      const built = await db.selectFrom('devices').select(['id', 'display_name']).where('status', '=', 'active').where('id', '>', '').orderBy('id').execute();
      expect(await byStatus(db, { after: '' })).toEqual(built);
    } finally {
      await db.destroy();
    }
  });
});
