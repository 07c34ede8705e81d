import crypto from 'node:crypto';
import path from 'node:path';
import { readOrCreateKeyFile } from '../keys/key-file';

const keyFileName = 'audit-checkpoint-key.json';

/**
 * The Ed25519 key that signs audit checkpoints, in a 0600 file in the data dir made on first
 * start. Its public half is published so auditors can check checkpoints with no daemon at all.
 */
export function loadCheckpointSigner(dataDir: string) {
  const file = path.join(dataDir, keyFileName);
  const jwk = JSON.parse(
    readOrCreateKeyFile(file, () => {
      // Generated as DER and exported from a key parsed from it: on Node.js 20, exporting the
      // KeyObject that generateKeyPairSync returns as a JWK can deadlock the process for good
      // when the garbage collector frees the generation job meanwhile (its destructor takes the
      // lock the export holds).
      const { privateKey } = crypto.generateKeyPairSync('ed25519', {
        privateKeyEncoding: { type: 'pkcs8', format: 'der' },
        publicKeyEncoding: { type: 'spki', format: 'der' },
      });
      return JSON.stringify(crypto.createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' })) + '\n';
    }),
  ) as crypto.JsonWebKey;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d) throw new Error(`${file} is not a private Ed25519 JWK`);
  const privateKey = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const publicKey = crypto.createPublicKey(privateKey);
  const publicJwk = publicKey.export({ format: 'jwk' });
  const keyId = crypto.createHash('sha256').update(`${publicJwk.crv}:${publicJwk.x}`).digest('base64url').slice(0, 16);
  return {
    keyId,
    publicKey,
    publicJwk: { ...publicJwk, kid: keyId, alg: 'EdDSA', use: 'sig' },
    sign: (message: Buffer) => crypto.sign(null, message, privateKey).toString('base64url'),
  };
}

export type CheckpointSigner = ReturnType<typeof loadCheckpointSigner>;

/** Reads a checkpoint key as published (a public JWK) for verifying offline. */
export function checkpointKeyFromJwk(jwk: crypto.JsonWebKey): crypto.KeyObject {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || jwk.d) throw new Error('the checkpoint key must be a public Ed25519 JWK');
  return crypto.createPublicKey({ key: jwk, format: 'jwk' });
}
