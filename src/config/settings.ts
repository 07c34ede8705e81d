import { parseDurationSeconds } from '../time/duration';
import type { Config } from './config-schema';

/**
 * The settings each service takes, read off the validated config once: every duration the
 * operator wrote as ISO 8601 text (kept as written in Config, for messages) becomes seconds here,
 * and nothing past this point parses a duration of the configuration again.
 */
export function serviceSettings(config: Config) {
  // The schema refused every duration that does not parse: never undefined here.
  const seconds = (d: string) => parseDurationSeconds(d) as number;
  const { rotation: r, webhooks: w, identity: i } = config;
  const { jwksCacheMaxAge, jwksCooldown, lastGoodKeysFor, ...oidc } = i.oidc;
  return {
    rotation: {
      maxAgeSeconds: seconds(r.maxAge),
      jitter: r.jitter,
      ackTimeoutSeconds: seconds(r.ackTimeout),
      history: r.history,
      concurrency: r.concurrency,
      maxPerSecond: r.maxPerSecond,
      retryBaseSeconds: seconds(r.retry.base),
      retryMaxSeconds: seconds(r.retry.max),
      flagAfter: r.retry.flagAfter,
      leaseSeconds: seconds(r.lease),
    },
    grants: {
      postUseDelaySeconds: seconds(r.postUseDelay),
      ackTimeoutSeconds: seconds(r.ackTimeout),
      revealAuthContext: i.mode === 'oidc' ? i.oidc.revealAuthContext : undefined,
    },
    webhooks: {
      endpoints: w.endpoints,
      maxAttempts: w.maxAttempts,
      retryBaseSeconds: seconds(w.retryBase),
      retryMaxSeconds: seconds(w.retryMax),
      timeoutSeconds: w.timeoutSeconds,
    },
    identity: {
      clockSkewSeconds: i.clockSkewSeconds,
      local: { issuer: i.local.issuer, audience: i.local.audience, tokenTtlSeconds: seconds(i.local.tokenTtl) },
      oidc: { ...oidc, jwksCacheMaxAgeSeconds: seconds(jwksCacheMaxAge), jwksCooldownSeconds: seconds(jwksCooldown), lastGoodKeysForSeconds: seconds(lastGoodKeysFor) },
    },
    sessions: { idleSeconds: seconds(config.portal.sessionIdle), absoluteSeconds: seconds(config.portal.sessionMaxAge) },
    verifyCache: { maxEntries: i.verifyCache.maxEntries, maxAgeSeconds: seconds(i.verifyCache.maxAge), clockSkewSeconds: i.clockSkewSeconds },
    deviceIdentity: { audience: config.agent.audience, maxLifetimeSeconds: config.agent.maxTokenLifetimeSeconds, clockSkewSeconds: i.clockSkewSeconds },
    checkpoints: { everyEvents: config.audit.checkpoint.everyEvents, everySeconds: seconds(config.audit.checkpoint.every) },
  };
}

export type ServiceSettings = ReturnType<typeof serviceSettings>;
