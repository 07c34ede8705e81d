import crypto from 'node:crypto';
import path from 'node:path';
import { Secret } from '../../secrets/secret';
import { readOrCreateKeyFile } from '../../keys/key-file';
import { Db } from '../../store/database';
import { prepareQuery } from '../../store/prepared-query';
import { VaultSecretTable } from '../../store/schema';
import { isStoreOutage } from '../../store/store-fault';
import { Transactor } from '../../store/transactor';
import { Clock } from '../../time/clock';
import { SecretAddress, VaultBackend } from '../vault-backend';

const keyFileName = 'vault-master.key';

// Device ids start with a letter or digit, so this name never collides with a device's secrets.
const canary: SecretAddress = { deviceId: '__canary__', version: 0 };
const canaryText = 'jitbroker local vault canary';

function additionalData(a: SecretAddress): Buffer {
  // Binding device and version means a ciphertext copied to another row fails to decrypt.
  return Buffer.from(`jitbroker-local-vault:v1:${a.deviceId}:${a.version}`, 'utf8');
}

/**
 * The embedded vault: AES-256-GCM in the daemon's own store, a fresh 96-bit IV per secret, the
 * master key in a 0600 file generated on first start.
 */
export function createLocalVault(deps: { db: Db; dataDir: string; clock: Clock; transactor: Transactor }): VaultBackend {
  const key = Buffer.from(readOrCreateKeyFile(path.join(deps.dataDir, keyFileName), () => crypto.randomBytes(32).toString('base64') + '\n').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${keyFileName} does not hold a 256-bit key`);

  const insertSecret = prepareQuery(deps.db, (d, p: VaultSecretTable) =>
    d
      .insertInto('vault_secrets')
      .values({ name: p.name, version: p.version, iv: p.iv, tag: p.tag, ciphertext: p.ciphertext, created_at: p.created_at })
      .onConflict((oc) => oc.columns(['name', 'version']).doUpdateSet({ iv: p.iv, tag: p.tag, ciphertext: p.ciphertext, created_at: p.created_at })),
  );
  const selectSecret = prepareQuery(deps.db, (d, p: { name: string; version: number }) =>
    d.selectFrom('vault_secrets').select(['iv', 'tag', 'ciphertext']).where('name', '=', p.name).where('version', '=', p.version),
  );
  function encrypt(address: SecretAddress, secret: Secret): VaultSecretTable {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(additionalData(address));
    const ciphertext = Buffer.concat([cipher.update(secret.expose(), 'utf8'), cipher.final()]);
    return { name: address.deviceId, version: address.version, iv, tag: cipher.getAuthTag(), ciphertext, created_at: deps.clock.now().toISOString() };
  }
  const vault: VaultBackend = {
    async put(address, secret) {
      const row = encrypt(address, secret);
      // Through the group commit: a fleet's worth of new passwords shares fsyncs instead of paying one each.
      await deps.transactor.run((tx) => insertSecret(tx, row), { singleWrite: true });
      return `local:${address.version}`;
    },
    async putInTransaction(tx, address, secret) {
      await insertSecret(tx, encrypt(address, secret));
      return `local:${address.version}`;
    },
    async get(address) {
      const [row] = await selectSecret(deps.db, { name: address.deviceId, version: address.version });
      if (!row) return undefined;
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, row.iv);
      decipher.setAAD(additionalData(address));
      decipher.setAuthTag(row.tag);
      return new Secret(Buffer.concat([decipher.update(row.ciphertext), decipher.final()]).toString('utf8'));
    },
    async remove(address) {
      await deps.transactor.run((tx) => tx.deleteFrom('vault_secrets').where('name', '=', address.deviceId).where('version', '=', address.version).execute(), {
        singleWrite: true,
      });
    },
    /** The store is readable and the master key is the one that encrypted it (a canary written on first use). */
    async check() {
      let found: Secret | undefined;
      try {
        found = await vault.get(canary, '');
      } catch (e) {
        // A store that cannot be read says nothing about the key.
        if (isStoreOutage(e)) throw e;
        throw new Error(`the vault master key ${keyFileName} does not decrypt this store's secrets (wrong or replaced key file)`);
      }
      if (found === undefined) {
        await vault.put(canary, new Secret(canaryText));
        return;
      }
      if (found.expose() !== canaryText) throw new Error('the vault canary does not match');
    },
  };
  return vault;
}
