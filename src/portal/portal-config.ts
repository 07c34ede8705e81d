import crypto from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { durationSetting } from '../config/duration-setting';
import { issuerUrlProblem } from '../identity/oidc/oidc-config';
import { parseDurationSeconds } from '../time/duration';
import type { EntraSignInSettings } from './entra-sign-in';

const duration = durationSetting;

/** Why a URL cannot be the portal's public address (or its callback), or undefined: the identity provider's URL rules, and for an origin nothing after the host. */
function portalUrlProblem(text: string, originOnly: boolean): string | undefined {
  const problem = issuerUrlProblem(text);
  if (problem) return problem;
  if (originOnly && (new URL(text).pathname !== '/' || text.endsWith('/'))) return 'must be an origin only (scheme, host and port), e.g. https://broker.example';
  return undefined;
}

const urlOf = (originOnly: boolean, example: string) =>
  z
    .string()
    .superRefine((v, ctx) => {
      const problem = portalUrlProblem(v, originOnly);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(example);

/** `portal`: the browser portal's sessions and its Entra sign-in (identity.mode oidc). */
export const portalConfigSchema = z
  .object({
    // Signed out after this long without a request, and this long after signing in however busy.
    sessionIdle: duration,
    sessionMaxAge: duration,
    // The origin browsers reach the portal at; state-changing requests must come from it (CSRF).
    publicOrigin: urlOf(true, 'an https:// origin (http:// only for a loopback host), e.g. https://broker.example').optional(),
    entra: z
      .object({
        // The portal's own application (client) id, registered as a web app.
        clientId: z.string().min(1).max(256).optional(),
        // The client secret is read from this environment variable, never from the file.
        clientSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'),
        // Or a certificate: its PEM and the PEM of its private key.
        certificateFile: z.string().min(1).optional(),
        privateKeyFile: z.string().min(1).optional(),
        redirectUri: urlOf(false, 'https://<portal>/auth/callback (http:// only for a loopback host)').optional(),
        apiScope: z.string().min(1).max(512).optional(),
      })
      .strict()
      .superRefine((e, ctx) => {
        if ((e.certificateFile === undefined) !== (e.privateKeyFile === undefined)) {
          ctx.addIssue({
            code: 'custom',
            path: [e.certificateFile ? 'privateKeyFile' : 'certificateFile'],
            message: 'is required with the other; accepted: both files, or neither',
          });
        }
      }),
  })
  .strict()
  .superRefine((p, ctx) => {
    const idle = parseDurationSeconds(p.sessionIdle);
    const max = parseDurationSeconds(p.sessionMaxAge);
    if (idle !== undefined && max !== undefined && idle > max) {
      ctx.addIssue({ code: 'custom', path: ['sessionIdle'], message: `is longer than portal.sessionMaxAge (${p.sessionMaxAge}); accepted: at most that` });
    }
  });

export type PortalConfig = z.infer<typeof portalConfigSchema>;

/** What the Entra sign-in takes from identity.oidc. */
export interface PortalOidc {
  authority: string;
  tenantId?: string;
  audience?: string;
  caFile?: string;
}

/**
 * The portal's Entra sign-in settings, or what is missing for it (answered, with this text, by
 * /auth/sign-in: a daemon serving the API to bearer tokens alone starts without the portal's app).
 * A named certificate or key that cannot be read throws: a file the operator named is a mistake to
 * refuse at start-up, not at the first sign-in.
 */
export function entraSignInSettings(
  portal: PortalConfig,
  oidc: PortalOidc,
  env: NodeJS.ProcessEnv,
  readFile: (file: string) => string = (f) => fs.readFileSync(f, 'utf8'),
): { settings: EntraSignInSettings } | { missing: string } {
  const e = portal.entra;
  const missing: string[] = [];
  if (!e.clientId) missing.push('portal.entra.clientId');
  const redirectUri = e.redirectUri ?? (portal.publicOrigin ? `${portal.publicOrigin}/auth/callback` : undefined);
  if (!redirectUri) missing.push('portal.publicOrigin (or portal.entra.redirectUri)');
  let credential: EntraSignInSettings['credential'] | undefined;
  if (e.certificateFile && e.privateKeyFile) {
    const certificate = readFile(e.certificateFile);
    let cert: crypto.X509Certificate;
    try {
      cert = new crypto.X509Certificate(certificate);
    } catch {
      throw new Error(`portal.entra.certificateFile ${e.certificateFile}: holds no PEM certificate`);
    }
    credential = { certificate: { thumbprintSha256: cert.fingerprint256.replaceAll(':', ''), privateKey: readFile(e.privateKeyFile), x5c: certificate } };
  } else if (env[e.clientSecretEnv]) {
    credential = { clientSecret: env[e.clientSecretEnv] as string };
  } else missing.push(`a client secret in the environment variable ${e.clientSecretEnv} (or portal.entra.certificateFile and .privateKeyFile)`);
  if (!oidc.tenantId || !oidc.audience || !e.clientId || !redirectUri || !credential) {
    return { missing: `The portal's Entra sign-in is not configured: it needs ${missing.join(', ')}.` };
  }
  return {
    settings: {
      authority: oidc.authority,
      tenantId: oidc.tenantId,
      clientId: e.clientId,
      credential,
      apiScope: e.apiScope ?? `${oidc.audience}/.default`,
      redirectUri,
      ...(oidc.caFile ? { ca: readFile(oidc.caFile) } : {}),
    },
  };
}
