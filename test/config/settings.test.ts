import { loadConfig } from '../../src/config/load-config';
import { serviceSettings } from '../../src/config/settings';

describe('service settings: the config read once into what the services take', () => {
  it('turns every duration of the defaults into seconds', () => {
    const s = serviceSettings(loadConfig({ env: {} }));
    expect(s.rotation).toMatchObject({ maxAgeSeconds: 4 * 3600, ackTimeoutSeconds: 15 * 60, leaseSeconds: 5 * 60, retryBaseSeconds: 30, retryMaxSeconds: 3600 });
    expect(s.grants).toEqual({ postUseDelaySeconds: 5 * 60, ackTimeoutSeconds: 15 * 60, revealAuthContext: undefined });
    expect(s.webhooks).toMatchObject({ retryBaseSeconds: 10, retryMaxSeconds: 30 * 60 });
    expect(s.verifyCache).toMatchObject({ maxAgeSeconds: 5 * 60 });
    expect(s.identity.local.tokenTtlSeconds).toBe(3600);
    expect(s.identity.oidc).toMatchObject({ jwksCacheMaxAgeSeconds: 3600, jwksCooldownSeconds: 30, lastGoodKeysForSeconds: 24 * 3600 });
    expect(s.checkpoints).toEqual({ everyEvents: 1000, everySeconds: 15 * 60 });
  });

  it('follows what the operator wrote, fractions of a second included', () => {
    const s = serviceSettings(loadConfig({ env: { JITBROKER_ROTATION_MAX_AGE: 'P1DT2H', JITBROKER_IDENTITY_OIDC_JWKS_COOLDOWN: 'PT0.5S' } }));
    expect(s.rotation.maxAgeSeconds).toBe(26 * 3600);
    expect(s.identity.oidc.jwksCooldownSeconds).toBe(0.5);
  });

  it('leaves no duration text where a number is taken', () => {
    const texts: string[] = [];
    const walk = (v: unknown, at: string) => {
      if (typeof v === 'string' && /^P(\d|T)/.test(v)) texts.push(at);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
    };
    walk(serviceSettings(loadConfig({ env: {} })), 'settings');
    expect(texts).toEqual([]);
  });
});
