import { JWK, KeyLike, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { DeviceRepository } from '../devices/device-repository';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { checkIssuedAt, reasonOf } from './local/local-identity';
import { AgentTokenRepository } from './agent-token-repository';
import { DevicePrincipal } from './principal';

const deviceAlgorithm = 'ES256';

/**
 * Verifies a device agent's short-lived JWT against the public key enrolled with the device:
 * ES256 only, iss = sub = device id, the agent audience, exp − iat ≤ the limit, and a jti never
 * seen before (kept until the token would have expired, so a replay is refused).
 */
export function createDeviceIdentity(deps: {
  db: Db;
  devices: Pick<DeviceRepository, 'findById'>;
  agentTokens: AgentTokenRepository;
  transactor: Transactor;
  clock: Clock;
  audience: string;
  maxLifetimeSeconds: number;
  clockSkewSeconds: number;
}) {
  const { devices, agentTokens } = deps;
  // Importing a JWK builds a key object, which costs more than the signature check. Kept per
  // device and keyed by the enrolled JWK's text, so a device re-enrolled with a new key misses.
  const keys = new Map<string, { jwk: string; key: KeyLike | Uint8Array }>();
  async function keyOf(deviceId: string, jwk: JWK): Promise<KeyLike | Uint8Array> {
    const text = JSON.stringify(jwk);
    const hit = keys.get(deviceId);
    if (hit && hit.jwk === text) return hit.key;
    const key = await importJWK(jwk, deviceAlgorithm);
    if (keys.size >= 50000) keys.delete(keys.keys().next().value as string);
    keys.set(deviceId, { jwk: text, key });
    return key;
  }
  const fail = (why: string): never => {
    throw new DomainError('unauthenticated', `Device token rejected: ${why}.`);
  };

  async function verify(token: string): Promise<DevicePrincipal> {
    let deviceId: unknown;
    try {
      if (decodeProtectedHeader(token).alg !== deviceAlgorithm) fail('the algorithm must be ES256');
      deviceId = decodeJwt(token).iss;
    } catch (e) {
      if (e instanceof DomainError) throw e;
      fail('the token is malformed');
    }
    if (typeof deviceId !== 'string' || deviceId === '') return fail('the token names no device in iss');
    const device = await devices.findById(deps.db, deviceId);
    if (!device || device.status !== 'active') return fail('no active device with that id');
    let payload;
    try {
      const key = await keyOf(deviceId, device.agentKey as JWK);
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [deviceAlgorithm],
        issuer: deviceId,
        subject: deviceId,
        audience: deps.audience,
        clockTolerance: deps.clockSkewSeconds,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        currentDate: deps.clock.now(),
      }));
    } catch (e) {
      return fail(reasonOf(e));
    }
    checkIssuedAt(payload.iat, Math.floor(deps.clock.now().getTime() / 1000), deps.clockSkewSeconds);
    if ((payload.exp as number) - (payload.iat as number) > deps.maxLifetimeSeconds) fail(`exp may be at most ${deps.maxLifetimeSeconds} s after iat`);
    const jti = payload.jti as string;
    if (jti.length > 128) fail('jti is too long');
    const expiresAt = new Date((payload.exp as number) * 1000).toISOString();
    const fresh = await deps.transactor.run(async (tx) => {
      if (await agentTokens.seen(tx, jti)) return false;
      await agentTokens.record(tx, { jti, deviceId, expiresAt });
      return true;
    });
    if (!fresh) fail('this token was already used (replayed jti)');
    return { kind: 'device', deviceId };
  }

  /** Forgets token ids whose tokens can no longer be presented. */
  async function pruneTokenIds(): Promise<void> {
    const cutoff = new Date(deps.clock.now().getTime() - deps.clockSkewSeconds * 1000).toISOString();
    await deps.transactor.run((tx) => agentTokens.pruneExpiredBefore(tx, cutoff));
  }

  return { verify, pruneTokenIds };
}

export type DeviceIdentity = ReturnType<typeof createDeviceIdentity>;
