import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { Migrator } from 'kysely';
import { migrate, openSqlite } from '../../src/store/database';
import * as m001 from '../../src/store/migrations/001-initial';
import * as m002 from '../../src/store/migrations/002-rotation';
import * as m003 from '../../src/store/migrations/003-escalations-webhooks';
import * as m004 from '../../src/store/migrations/004-revealed-versions';
import * as m005 from '../../src/store/migrations/005-unpruned-versions';

describe('migration 006-agent-key-thumbprint on a store that predates it', () => {
  it('fills each device’s thumbprint; of devices that already shared a key the first keeps it, and the upgrade does not fail', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-006-'));
    const { db, sqlite } = openSqlite(path.join(dir, 'jitbroker.db'));
    try {
      const before = { '001-initial': m001, '002-rotation': m002, '003-escalations-webhooks': m003, '004-revealed-versions': m004, '005-unpruned-versions': m005 };
      expect((await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest()).error).toBeUndefined();
      const shared = await exportJWK((await generateKeyPair('ES256')).publicKey);
      const own = await exportJWK((await generateKeyPair('ES256')).publicKey);
      const insert = sqlite.prepare(
        "INSERT INTO devices (id, display_name, groups, account, agent_key, status, created_at, retired_at, last_rotated_at, next_due, rotation_failures, rotation_error) VALUES (?, ?, '[]', 'localadmin', ?, 'active', ?, NULL, NULL, NULL, 0, NULL)",
      );
      insert.run('pc-b', 'pc-b', JSON.stringify({ ...shared, kid: 'same key, other text' }), '2026-01-02T00:00:00.000Z');
      insert.run('pc-a', 'pc-a', JSON.stringify(shared), '2026-01-01T00:00:00.000Z');
      insert.run('pc-c', 'pc-c', JSON.stringify(own), '2026-01-03T00:00:00.000Z');
      expect(await migrate(db)).toEqual(['006-agent-key-thumbprint', '007-grant-coverage', '008-portal-sessions', '009-portal-sign-ins']);
      const rows = await db.selectFrom('devices').select(['id', 'agent_key_thumbprint']).orderBy('id').execute();
      expect(rows).toEqual([
        { id: 'pc-a', agent_key_thumbprint: await calculateJwkThumbprint(shared) },
        { id: 'pc-b', agent_key_thumbprint: null },
        { id: 'pc-c', agent_key_thumbprint: await calculateJwkThumbprint(own) },
      ]);
    } finally {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
