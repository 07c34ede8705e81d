import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Secret } from '../../src/secrets/secret';
import { migrate, openSqlite } from '../../src/store/database';
import { systemClock } from '../../src/time/clock';
import { createLocalVault } from '../../src/vault/local/local-vault';
import { createTransactor } from '../../src/store/transactor';
import { vaultContract } from './vault-contract';

async function openLocal(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-vault-'))) {
  const { db } = openSqlite(path.join(dir, 'jitbroker.db'));
  await migrate(db);
  const transactor = createTransactor(db, { maxBatch: 64, maxBatchMs: 10 });
  const vault = createLocalVault({ db, dataDir: dir, clock: systemClock, transactor });
  return {
    dir,
    db,
    vault,
    transactor,
    close: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

vaultContract('the local vault', openLocal);

describe('the local vault encrypts at rest', () => {
  it('makes a 256-bit master key on first start, mode 0600, and refuses one others can read', async () => {
    const v = await openLocal();
    try {
      const keyFile = path.join(v.dir, 'vault-master.key');
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
      fs.chmodSync(keyFile, 0o644);
      expect(() => createLocalVault({ db: v.db, dataDir: v.dir, clock: systemClock, transactor: v.transactor })).toThrow(/chmod 600/);
    } finally {
      await v.close();
    }
  });

  it('stores AES-256-GCM ciphertext with a fresh IV per secret, never the plaintext', async () => {
    const v = await openLocal();
    try {
      await v.vault.put({ deviceId: 'd', version: 1 }, new Secret('same-password'));
      await v.vault.put({ deviceId: 'd', version: 2 }, new Secret('same-password'));
      const rows = await v.db.selectFrom('vault_secrets').selectAll().where('name', '=', 'd').execute();
      expect(rows).toHaveLength(2);
      expect(rows[0]?.iv).toHaveLength(12);
      expect(rows[0]?.tag).toHaveLength(16);
      expect(Buffer.compare(rows[0]!.iv, rows[1]!.iv)).not.toBe(0);
      expect(Buffer.compare(rows[0]!.ciphertext, rows[1]!.ciphertext)).not.toBe(0);
      expect(rows.some((r) => r.ciphertext.toString('utf8').includes('same-password'))).toBe(false);
    } finally {
      await v.close();
    }
  });

  it('binds device and version as additional data: a ciphertext moved to another row does not decrypt', async () => {
    const v = await openLocal();
    try {
      await v.vault.put({ deviceId: 'a', version: 1 }, new Secret('secret-of-a'));
      const row = await v.db.selectFrom('vault_secrets').selectAll().where('name', '=', 'a').executeTakeFirstOrThrow();
      await v.db
        .insertInto('vault_secrets')
        .values({ ...row, name: 'b' })
        .execute();
      await v.db
        .insertInto('vault_secrets')
        .values({ ...row, version: 2 })
        .execute();
      await expect(v.vault.get({ deviceId: 'b', version: 1 }, 'local:1')).rejects.toMatchObject({ message: expect.stringMatching(/unable to authenticate/) });
      await expect(v.vault.get({ deviceId: 'a', version: 2 }, 'local:2')).rejects.toMatchObject({ message: expect.stringMatching(/unable to authenticate/) });
    } finally {
      await v.close();
    }
  });

  it('its readiness check fails when the master key was replaced', async () => {
    const v = await openLocal();
    try {
      await v.vault.check();
      fs.rmSync(path.join(v.dir, 'vault-master.key'));
      const other = createLocalVault({ db: v.db, dataDir: v.dir, clock: systemClock, transactor: v.transactor });
      await expect(other.check()).rejects.toThrow(/does not decrypt/);
    } finally {
      await v.close();
    }
  });
});
