import { z } from 'zod';
import { durationSetting } from '../../config/duration-setting';
import { isLoopbackHost } from '../../network/loopback';
import { parseDurationSeconds } from '../../time/duration';
import { roles } from '../principal';

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const tenantId = z.string().regex(guid, 'not a tenant id; accepted: the directory (tenant) id, a GUID');
const duration = durationSetting;

/**
 * Why a URL may not be used to reach the identity provider, or undefined when it may: https, or
 * http for a loopback host only (a test issuer), with no credentials, query or fragment.
 */
export function issuerUrlProblem(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return 'is not an absolute URL';
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackHost(u.hostname))) return 'must be https:// (http:// only for a loopback host)';
  if (u.username || u.password || u.search || u.hash) return 'must not carry credentials, a query or a fragment';
  return undefined;
}

/** `identity.oidc`: Microsoft Entra ID (v2.0 access tokens) as the identity provider. */
export const oidcConfigSchema = z
  .object({
    authority: z
      .string()
      .superRefine((v, ctx) => {
        const problem = issuerUrlProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('an https:// URL (http:// only for a loopback host), e.g. https://login.microsoftonline.com'),
    // Required with identity.mode oidc (checked below, where the mode is known).
    tenantId: tenantId.optional(),
    // The API's application (client) id: a v2.0 token's aud.
    audience: z.string().min(1).max(256).optional(),
    // Tenants whose users may sign in; empty means tenantId alone.
    allowedTenants: z.array(tenantId).max(100),
    // App-role value → broker role; empty means the values are the broker's role names.
    roleMap: z.record(z.string().min(1).max(256), z.enum(roles)),
    // A Conditional Access authentication context id a token's acrs must carry to reveal a password.
    revealAuthContext: z
      .string()
      .regex(/^c([1-9]|[1-9][0-9])$/, 'not an authentication context id; accepted: c1 to c99')
      .optional(),
    // Keys are refetched after this; an unknown kid refetches at most once per cooldown.
    jwksCacheMaxAge: duration,
    jwksCooldown: duration,
    // While the identity provider cannot be reached, keys fetched at most this long ago still verify.
    lastGoodKeysFor: duration,
    fetchTimeoutSeconds: z.number().int().min(1).max(60),
    // A PEM file of CAs to trust for the identity provider's calls only (a private or test issuer).
    caFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const maxAge = parseDurationSeconds(o.jwksCacheMaxAge);
    const lastGood = parseDurationSeconds(o.lastGoodKeysFor);
    if (maxAge !== undefined && lastGood !== undefined && lastGood < maxAge) {
      ctx.addIssue({ code: 'custom', path: ['lastGoodKeysFor'], message: `is shorter than jwksCacheMaxAge (${o.jwksCacheMaxAge}); accepted: a duration at least as long` });
    }
  });

export type OidcConfig = z.infer<typeof oidcConfigSchema>;

/** `identity.oidc` as the provider takes it: its durations in seconds (src/config/settings.ts converts them). */
export type OidcSettings = Omit<OidcConfig, 'jwksCacheMaxAge' | 'jwksCooldown' | 'lastGoodKeysFor'> & {
  jwksCacheMaxAgeSeconds: number;
  jwksCooldownSeconds: number;
  lastGoodKeysForSeconds: number;
};

/** The settings identity.mode oidc cannot run without; the schema cannot see the mode from inside `oidc`. */
export function requireOidcSettings(oidc: OidcConfig, ctx: z.RefinementCtx): void {
  if (!oidc.tenantId) {
    ctx.addIssue({ code: 'custom', path: ['oidc', 'tenantId'], message: 'is required with identity.mode oidc; accepted: the directory (tenant) id, a GUID' });
  }
  if (!oidc.audience) {
    ctx.addIssue({ code: 'custom', path: ['oidc', 'audience'], message: "is required with identity.mode oidc; accepted: the API's application (client) id" });
  }
}
