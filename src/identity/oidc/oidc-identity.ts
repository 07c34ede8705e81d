import fs from 'node:fs';
import { JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { Logger } from 'pino';
import { DomainError } from '../../problems/problem';
import { Clock } from '../../time/clock';
import { IdentityProvider } from '../identity-provider';
import { checkIssuedAt, reasonOf } from '../local/local-identity';
import { Role, UserPrincipal, loginNamesOf, roles } from '../principal';
import { createIssuerClient } from './issuer-client';
import { createIssuerKeys } from './issuer-keys';
import { OidcSettings } from './oidc-config';

export const oidcAlgorithms = ['RS256'];

const rejected = (why: string) => new DomainError('unauthenticated', `Bearer token rejected: ${why}.`);

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function displayName(payload: JWTPayload): string | undefined {
  const name = typeof payload.name === 'string' && payload.name !== '' ? payload.name : payload.preferred_username;
  return typeof name === 'string' && name !== '' ? name.slice(0, 256) : undefined;
}

/** Entra leaves `groups` out of a token past 200 groups and points at Graph instead (`_claim_names`), or sends `hasgroups`. */
function isGroupsOverage(payload: JWTPayload): boolean {
  if (payload.groups !== undefined) return false;
  const names = payload._claim_names;
  return payload.hasgroups === true || (!!names && typeof names === 'object' && 'groups' in names);
}

/** Broker roles from app-role values: through `roleMap` when it has entries, else the values that name a broker role. */
export function mapRoles(values: readonly string[], roleMap: Readonly<Record<string, Role>>): Role[] {
  const mapped = Object.keys(roleMap).length > 0 ? values.map((v) => (Object.hasOwn(roleMap, v) ? roleMap[v] : undefined)) : values;
  return [...new Set(mapped.filter((r): r is Role => r !== undefined && (roles as readonly string[]).includes(r)))];
}

/**
 * Microsoft Entra ID as the identity provider: v2.0 access tokens for this API, verified against
 * the tenant's published keys (discovery, JWKS kept with last-good keys through an outage), and
 * mapped to a principal whose subject is the immutable `oid` (`sub` is pairwise, `name` only shown).
 */
export async function createOidcIdentity(deps: { settings: OidcSettings; clockSkewSeconds: number; clock: Clock; logger: Logger }) {
  const { settings: s, clock, logger } = deps;
  if (!s.tenantId || !s.audience) throw new Error('identity.oidc.tenantId and identity.oidc.audience are required with identity.mode oidc');
  const authority = s.authority.replace(/\/+$/, '');
  const issuerOf = (tid: string) => `${authority}/${tid}/v2.0`;
  const tenants = s.allowedTenants.length > 0 ? s.allowedTenants.map((t) => t.toLowerCase()) : [s.tenantId.toLowerCase()];
  // Entra writes tenant ids in lower case, in iss as in tid.
  const issuer = issuerOf(s.tenantId.toLowerCase());
  const keys = createIssuerKeys({
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    issuer,
    client: createIssuerClient({ timeoutMs: s.fetchTimeoutSeconds * 1000, caPem: s.caFile ? fs.readFileSync(s.caFile) : undefined }),
    clock,
    logger,
    settings: {
      cacheMaxAgeMs: s.jwksCacheMaxAgeSeconds * 1000,
      cooldownMs: s.jwksCooldownSeconds * 1000,
      lastGoodForMs: s.lastGoodKeysForSeconds * 1000,
    },
  });

  // Start-up fetch: the daemon starts even when the identity provider cannot be reached (logged; /readyz says so).
  if (!(await keys.refresh())) logger.error({ issuer }, 'identity provider unreachable at start-up: tokens are refused with 503 until its keys can be fetched');

  const provider: IdentityProvider = {
    mode: 'oidc',
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys.getKey, {
          algorithms: oidcAlgorithms,
          issuer: tenants.map(issuerOf),
          audience: s.audience,
          clockTolerance: deps.clockSkewSeconds,
          requiredClaims: ['exp', 'iat', 'tid', 'oid', 'ver'],
          currentDate: clock.now(),
        }));
      } catch (e) {
        if (e instanceof DomainError) throw e;
        if (e instanceof joseErrors.JWKSNoMatchingKey) throw rejected('the token is signed by a key the identity provider does not publish');
        throw rejected(reasonOf(e));
      }
      checkIssuedAt(payload.iat, Math.floor(clock.now().getTime() / 1000), deps.clockSkewSeconds);
      if (payload.ver !== '2.0') throw rejected("the token's ver claim is not 2.0 (the API's registration must accept v2.0 access tokens)");
      const tid = typeof payload.tid === 'string' ? payload.tid.toLowerCase() : '';
      if (!tenants.includes(tid)) throw rejected("the token's tenant is not allowed");
      // jose checked iss against every allowed tenant's issuer; it must be the one of the token's own tenant.
      if (payload.iss !== issuerOf(payload.tid as string)) throw rejected("the token's iss claim does not name the tenant in its tid claim");
      if (typeof payload.oid !== 'string' || payload.oid === '' || payload.oid.length > 64) throw rejected("the token's oid claim is not an object id");
      if (isGroupsOverage(payload)) {
        throw new DomainError(
          'forbidden',
          'Your token carries no groups claim because you are in more groups than fit in a token (groups overage), so policies cannot see your groups. ' +
            "An administrator must assign you this API's app roles, or filter the token's groups claim to the groups assigned to the application.",
        );
      }
      const principal: UserPrincipal = {
        kind: 'user',
        subject: payload.oid,
        name: displayName(payload),
        tenant: tid,
        roles: mapRoles(stringList(payload.roles), s.roleMap),
        groups: stringList(payload.groups),
        authContexts: stringList(payload.acrs),
        logins: loginNamesOf(payload),
      };
      return { principal, expiresAt: payload.exp as number };
    },
    check: () => keys.check(),
  };

  const issueToken = (): Promise<string> =>
    Promise.reject(new Error('identity.mode is oidc: tokens come from Microsoft Entra ID; jitbroker token signs tokens in identity.mode local only.'));

  return { provider, issueToken };
}
