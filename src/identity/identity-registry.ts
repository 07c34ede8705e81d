import { Logger } from 'pino';
import { Clock } from '../time/clock';
import { IdentityProvider } from './identity-provider';
import { createLocalIdentity } from './local/local-identity';
import { OidcSettings } from './oidc/oidc-config';
import { createOidcIdentity } from './oidc/oidc-identity';

export interface IdentitySetup {
  provider: IdentityProvider;
  /** Signs a token for `jitbroker token` and tests; identity.mode local only (other modes reject). */
  issueToken(claims: { sub: string; roles: string[]; groups: string[]; name?: string; ttlSeconds: number }): Promise<string>;
}

/** `identity` of the config, durations in seconds (src/config/settings.ts), spelled out here: the config's mode enum is read off this registry. */
export interface IdentitySettings {
  clockSkewSeconds: number;
  local: { issuer: string; audience: string; tokenTtlSeconds: number };
  oidc: OidcSettings;
}

export type IdentityFactory = (identity: IdentitySettings, deps: { dataDir: string; clock: Clock; logger: Logger }) => Promise<IdentitySetup>;

/** Every identity provider by its config name; the config's `identity.mode` enum is read off this. */
export const identityProviders = {
  local: (identity, deps) => createLocalIdentity({ dataDir: deps.dataDir, ...identity.local, clockSkewSeconds: identity.clockSkewSeconds, clock: deps.clock }),
  oidc: (identity, deps) => createOidcIdentity({ settings: identity.oidc, clockSkewSeconds: identity.clockSkewSeconds, clock: deps.clock, logger: deps.logger }),
} satisfies Record<string, IdentityFactory>;

export type IdentityMode = keyof typeof identityProviders;
export const identityModes = Object.keys(identityProviders) as [IdentityMode, ...IdentityMode[]];
