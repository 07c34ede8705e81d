import crypto from 'node:crypto';
import path from 'node:path';
import { JWK, KeyLike, SignJWT, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import { readOrCreateKeyFile } from '../../keys/key-file';
import { DomainError } from '../../problems/problem';
import { IdentityProvider } from '../identity-provider';
import { Role, UserPrincipal, loginNamesOf, roles } from '../principal';
import { Clock } from '../../time/clock';

export const localAlgorithm = 'ES256';
const keyFileName = 'identity-key.json';

export interface LocalIdentityOptions {
  dataDir: string;
  issuer: string;
  audience: string;
  clockSkewSeconds: number;
  clock: Clock;
}

async function loadKeys(dataDir: string): Promise<{ privateKey: KeyLike; publicKey: KeyLike; kid: string }> {
  const file = path.join(dataDir, keyFileName);
  let created: JWK | undefined;
  // Key generation is async in jose; make the JWK first, then write it exclusively.
  if (!(await fileExists(file))) {
    const pair = await generateKeyPair(localAlgorithm, { extractable: true });
    created = { ...(await exportJWK(pair.privateKey)), alg: localAlgorithm, kid: crypto.randomUUID() };
  }
  const jwk = JSON.parse(readOrCreateKeyFile(file, () => JSON.stringify(created) + '\n')) as JWK;
  if (!jwk.d || !jwk.kid) throw new Error(`${file} is not a private EC JWK with a kid`);
  const { d: _d, ...publicJwk } = jwk;
  return {
    privateKey: (await importJWK(jwk, localAlgorithm)) as KeyLike,
    publicKey: (await importJWK(publicJwk, localAlgorithm)) as KeyLike,
    kid: jwk.kid,
  };
}

async function fileExists(file: string): Promise<boolean> {
  const fs = await import('node:fs/promises');
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export function reasonOf(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${e.claim} claim is not acceptable`;
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return "the token's algorithm is not allowed";
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return 'the token is malformed';
  if (e instanceof joseErrors.JOSENotSupported) return 'the token uses an unsupported feature';
  return 'the token could not be verified';
}

/** Checks jose leaves to the caller: `iat` not in the future beyond the skew. */
export function checkIssuedAt(iat: unknown, nowSeconds: number, skew: number): void {
  if (iat !== undefined && (typeof iat !== 'number' || iat > nowSeconds + skew)) {
    throw new DomainError('unauthenticated', "The token's iat claim is in the future.");
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * Local identity: the daemon signs and trusts tokens with an ES256 key pair in its data dir.
 * For one host only (development, a single-desk install); OIDC is the production mode.
 */
export async function createLocalIdentity(opts: LocalIdentityOptions) {
  const keys = await loadKeys(opts.dataDir);

  const provider: IdentityProvider = {
    mode: 'local',
    async verify(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, keys.publicKey, {
          algorithms: [localAlgorithm],
          issuer: opts.issuer,
          audience: opts.audience,
          clockTolerance: opts.clockSkewSeconds,
          requiredClaims: ['exp', 'sub'],
          currentDate: opts.clock.now(),
        }));
      } catch (e) {
        throw new DomainError('unauthenticated', `Bearer token rejected: ${reasonOf(e)}.`);
      }
      checkIssuedAt(payload.iat, Math.floor(opts.clock.now().getTime() / 1000), opts.clockSkewSeconds);
      const principal: UserPrincipal = {
        kind: 'user',
        subject: payload.sub as string,
        name: typeof payload.name === 'string' ? payload.name : undefined,
        tenant: typeof payload.tid === 'string' ? payload.tid : 'local',
        roles: stringList(payload.roles).filter((r): r is Role => (roles as readonly string[]).includes(r)),
        groups: stringList(payload.groups),
        logins: loginNamesOf(payload),
      };
      return { principal, expiresAt: payload.exp as number };
    },
  };

  /** Signs a token for `jitbroker token`. */
  async function issueToken(claims: { sub: string; roles: string[]; groups: string[]; name?: string; ttlSeconds: number }): Promise<string> {
    const iat = Math.floor(opts.clock.now().getTime() / 1000);
    return new SignJWT({ roles: claims.roles, groups: claims.groups, ...(claims.name ? { name: claims.name } : {}) })
      .setProtectedHeader({ alg: localAlgorithm, kid: keys.kid, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setIssuedAt(iat)
      .setJti(crypto.randomUUID())
      .setExpirationTime(iat + claims.ttlSeconds)
      .sign(keys.privateKey);
  }

  return { provider, issueToken };
}
