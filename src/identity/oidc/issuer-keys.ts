import { JSONWebKeySet, JWK, JWTVerifyGetKey, createLocalJWKSet, errors as joseErrors } from 'jose';
import { Logger } from 'pino';
import { DomainError } from '../../problems/problem';
import { Clock } from '../../time/clock';
import { IssuerClient } from './issuer-client';
import { issuerUrlProblem } from './oidc-config';

export interface IssuerKeysSettings {
  /** Keys older than this are refetched before use. */
  cacheMaxAgeMs: number;
  /** At most one fetch per this long: an unknown kid, or an issuer that is down, cannot make the daemon hammer it. */
  cooldownMs: number;
  /** While fetches fail, keys fetched at most this long ago still verify; past it, 503. */
  lastGoodForMs: number;
}

interface Held<T> {
  value: T;
  fetchedAt: number;
}

interface KeySet {
  getKey: JWTVerifyGetKey;
  kids: readonly string[];
}

/** The discovery document's jwks_uri, once its issuer is the one expected. */
function jwksUriOf(doc: unknown, issuer: string): string {
  const d = doc as { issuer?: unknown; jwks_uri?: unknown } | null;
  if (!d || typeof d !== 'object') throw new Error('the discovery document is not a JSON object');
  if (d.issuer !== issuer) throw new Error(`the discovery document names another issuer (expected ${issuer})`);
  if (typeof d.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri');
  const problem = issuerUrlProblem(d.jwks_uri);
  if (problem) throw new Error(`the discovery document's jwks_uri ${problem}`);
  return d.jwks_uri;
}

/** The public RSA signing keys of a JWKS (what RS256 needs); private members and other keys are left out. */
function signingKeysOf(doc: unknown): JSONWebKeySet {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('the JWKS has no keys array');
  const usable = keys
    .filter((k): k is JWK => !!k && typeof k === 'object')
    .filter(
      (k) => k.kty === 'RSA' && typeof k.kid === 'string' && typeof k.n === 'string' && typeof k.e === 'string' && (k.use === undefined || k.use === 'sig') && k.d === undefined,
    )
    .map((k): JWK => ({ kty: 'RSA', kid: k.kid, n: k.n, e: k.e, ...(k.use ? { use: k.use } : {}), ...(k.alg ? { alg: k.alg } : {}) }));
  if (usable.length === 0) throw new Error('the JWKS holds no public RSA signing key');
  return { keys: usable };
}

/**
 * The issuer's signing keys, fetched through its discovery document and kept around jose's
 * `createLocalJWKSet`. jose's remote set has no stale-if-error; this one keeps the last good keys
 * through an outage for `lastGoodForMs`, refetches at most once per cooldown (expiry, unknown kid
 * or a failing issuer alike), coalesces concurrent fetches, and reads time from the injected clock.
 */
export function createIssuerKeys(deps: { discoveryUrl: string; issuer: string; client: IssuerClient; clock: Clock; logger: Logger; settings: IssuerKeysSettings }) {
  const { settings, logger } = deps;
  const now = () => deps.clock.now().getTime();
  let jwksUri: Held<string> | undefined;
  let keys: Held<KeySet> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let reloading: Promise<boolean> | undefined;

  /** The JWKS location; rediscovered with the keys, and the last one found kept if discovery fails. */
  async function locateKeys(): Promise<string> {
    if (jwksUri && now() - jwksUri.fetchedAt < settings.cacheMaxAgeMs) return jwksUri.value;
    try {
      jwksUri = { value: jwksUriOf(await deps.client.getJson(deps.discoveryUrl), deps.issuer), fetchedAt: now() };
    } catch (e) {
      if (!jwksUri) throw e;
      logger.warn({ err: e, discovery: deps.discoveryUrl }, 'identity provider discovery failed; using the jwks_uri found before');
    }
    return jwksUri.value;
  }

  /** One fetch at a time: callers arriving meanwhile share it. True when fresh keys are now held. */
  function reload(): Promise<boolean> {
    reloading ??= (async () => {
      lastAttempt = now();
      try {
        const jwks = signingKeysOf(await deps.client.getJson(await locateKeys()));
        keys = { value: { getKey: createLocalJWKSet(jwks), kids: jwks.keys.map((k) => k.kid as string) }, fetchedAt: now() };
        logger.debug({ issuer: deps.issuer, kids: keys.value.kids }, 'identity provider signing keys fetched');
        return true;
      } catch (e) {
        const held = keys
          ? `the keys fetched at ${new Date(keys.fetchedAt).toISOString()} still verify until ${new Date(keys.fetchedAt + settings.lastGoodForMs).toISOString()}`
          : 'no keys are held: tokens cannot be verified';
        logger.error({ err: e, issuer: deps.issuer }, `could not fetch the identity provider's signing keys; ${held}`);
        return false;
      }
    })().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  const mayFetch = () => reloading !== undefined || now() - lastAttempt >= settings.cooldownMs;

  /** Keys to verify with: fresh, or the last good ones while the issuer cannot be reached; else 503. */
  async function usableKeys(): Promise<KeySet> {
    if ((!keys || now() - keys.fetchedAt >= settings.cacheMaxAgeMs) && mayFetch()) await reload();
    if (keys && now() - keys.fetchedAt < settings.lastGoodForMs) return keys.value;
    throw new DomainError(
      'unavailable',
      keys
        ? 'The identity provider has been unreachable for too long to trust the signing keys held; try again later.'
        : "The identity provider's signing keys could not be fetched, so no token can be verified; try again later.",
    );
  }

  /** For jose's jwtVerify: the key a token's kid names. */
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '') throw new DomainError('unauthenticated', 'Bearer token rejected: the token names no signing key (kid).');
    const set = await usableKeys();
    try {
      return await set.getKey(header, token);
    } catch (e) {
      // A key the issuer started signing with since the last fetch: one refetch per cooldown at most.
      if (!(e instanceof joseErrors.JWKSNoMatchingKey) || !mayFetch() || !(await reload()) || !keys) throw e;
      return keys.value.getKey(header, token);
    }
  };

  return {
    getKey,
    /** Fetches discovery and keys now (start-up); never throws: a failure is logged and retried later. */
    refresh: reload,
    /** Throws `unavailable` when no key could verify a token now (for /readyz). */
    check: async (): Promise<void> => {
      await usableKeys();
    },
  };
}

export type IssuerKeys = ReturnType<typeof createIssuerKeys>;
