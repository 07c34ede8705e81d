import fs from 'node:fs';
import crypto from 'node:crypto';
import { JWK, KeyLike, exportJWK, generateKeyPair, importJWK } from 'jose';

export const deviceKeyAlgorithm = 'ES256';

export interface DeviceKey {
  privateKey: KeyLike;
  publicJwk: JWK;
}

/**
 * Makes the device's ES256 key pair and writes the private JWK to `file` (mode 0600,
 * created exclusively: an existing key is never overwritten, since its public half may be
 * enrolled). Returns the public JWK to enrol with the device.
 */
export async function generateDeviceKey(file: string): Promise<JWK> {
  const pair = await generateKeyPair(deviceKeyAlgorithm, { extractable: true });
  const kid = crypto.randomUUID();
  const privateJwk = { ...(await exportJWK(pair.privateKey)), alg: deviceKeyAlgorithm, kid };
  try {
    fs.writeFileSync(file, JSON.stringify(privateJwk) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} already exists; refusing to overwrite a device key (move it away first)`);
    throw e;
  }
  return publicPart(privateJwk);
}

function publicPart(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, alg: deviceKeyAlgorithm, use: 'sig', ...(jwk.kid ? { kid: jwk.kid } : {}) };
}

/** Reads the device's private key; a key file others can read is refused. */
export async function loadDeviceKey(file: string): Promise<DeviceKey> {
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) throw new Error(`device key ${file} has mode ${mode.toString(8)}; it must be readable by its owner only (chmod 600)`);
  let jwk: JWK;
  try {
    jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as JWK;
  } catch {
    throw new Error(`device key ${file} is not a JSON Web Key`);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d) throw new Error(`device key ${file} is not a private EC P-256 JWK`);
  return { privateKey: (await importJWK(jwk, deviceKeyAlgorithm)) as KeyLike, publicJwk: publicPart(jwk) };
}
