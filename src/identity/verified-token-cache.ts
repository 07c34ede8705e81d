import crypto from 'node:crypto';
import { Clock } from '../time/clock';
import { IdentityProvider, VerifiedToken } from './identity-provider';

interface Entry {
  verified: VerifiedToken;
  cachedAt: number;
}

/**
 * Remembers tokens whose signature and claims were verified, so a client that reuses its token
 * (Entra access tokens live an hour) does not pay a signature check on every request. Keyed by
 * the SHA-256 of the whole token, so a token that differs in any byte is verified afresh. A hit
 * still re-checks `exp` against the clock, and an entry is dropped after `maxAgeSeconds`, so a
 * key withdrawn from the issuer stops being honoured within that time. Only successes are kept.
 */
export function withVerifiedTokenCache(inner: IdentityProvider, opts: { clock: Clock; maxEntries: number; maxAgeSeconds: number; clockSkewSeconds: number }): IdentityProvider {
  if (opts.maxEntries === 0) return inner;
  const entries = new Map<string, Entry>();
  const check = inner.check?.bind(inner);
  return {
    mode: inner.mode,
    ...(check ? { check } : {}),
    async verify(token) {
      const key = crypto.createHash('sha256').update(token).digest('base64');
      const now = opts.clock.now().getTime() / 1000;
      const hit = entries.get(key);
      if (hit) {
        if (now < hit.verified.expiresAt + opts.clockSkewSeconds && now - hit.cachedAt < opts.maxAgeSeconds) return hit.verified;
        entries.delete(key);
      }
      const verified = await inner.verify(token);
      // Oldest first: Map keeps insertion order, so the first key is the one to evict.
      if (entries.size >= opts.maxEntries) entries.delete(entries.keys().next().value as string);
      entries.set(key, { verified, cachedAt: now });
      return verified;
    },
  };
}
