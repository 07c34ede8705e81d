import crypto from 'node:crypto';
import https from 'node:https';
import http from 'node:http';
import type { AuthorizationCodePayload, INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';

/**
 * The portal's sign-in with Microsoft Entra ID: the OpenID Connect authorization code flow with
 * PKCE, the daemon a confidential client (a client secret or a certificate), through MSAL for Node,
 * Microsoft's own library: it speaks Entra's dialect (client_info, certificate assertions with
 * x5t#S256, claims challenges for Conditional Access authentication contexts) and is the library
 * @azure/identity already runs under the Key Vault credential. Tokens stay in the daemon: the
 * browser only ever carries the authorization code back.
 */
export interface EntraSignInSettings {
  /** e.g. https://login.microsoftonline.com (a loopback authority in tests). */
  authority: string;
  tenantId: string;
  /** The portal's own application (client) id, registered as a web app. */
  clientId: string;
  credential: { clientSecret: string } | { certificate: { thumbprintSha256: string; privateKey: string; x5c?: string } };
  /** The API scope whose access token the daemon verifies like any bearer token: `api://<audience>/.default` or `<audience>/.default`. */
  apiScope: string;
  /** The daemon's callback, registered in Entra: https://broker.example/portal/auth/callback. */
  redirectUri: string;
  /** A PEM certificate to trust for the authority (a test issuer on loopback). */
  ca?: string;
}

/** What the daemon keeps between sending the browser to Entra and its return. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** MSAL's requests over node:https, trusting `ca` when given (never the whole process's TLS setting). */
function networkModule(ca?: string): INetworkModule {
  const send = <T>(method: 'GET' | 'POST', url: string, options: NetworkRequestOptions = {}, timeoutMs = 10000): Promise<NetworkResponse<T>> =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const lib = u.protocol === 'http:' ? http : https;
      const req = lib.request(u, { method, headers: options.headers, ...(ca && u.protocol === 'https:' ? { ca } : {}), timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : (v ?? '')]));
          try {
            resolve({ status: res.statusCode ?? 0, headers, body: (text ? JSON.parse(text) : {}) as T });
          } catch (e) {
            reject(new Error(`the identity provider answered ${url} with ${res.statusCode} and no JSON`, { cause: e }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`the identity provider did not answer ${u.origin} within ${timeoutMs} ms`)));
      req.on('error', reject);
      if (options.body) req.write(options.body);
      req.end();
    });
  return {
    sendGetRequestAsync: (url, options, timeout) => send('GET', url, options, timeout),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

export function createEntraSignIn(settings: EntraSignInSettings) {
  // Loaded only with an Entra sign-in configured: in local identity mode no daemon start pays for MSAL.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ConfidentialClientApplication, CryptoProvider } = require('@azure/msal-node') as typeof import('@azure/msal-node');
  const authority = `${settings.authority.replace(/\/+$/, '')}/${settings.tenantId}`;
  const app = new ConfidentialClientApplication({
    auth: {
      clientId: settings.clientId,
      authority,
      // The authority is the one configured, never looked up through Microsoft's instance discovery.
      knownAuthorities: [new URL(settings.authority).host],
      ...('clientSecret' in settings.credential ? { clientSecret: settings.credential.clientSecret } : { clientCertificate: settings.credential.certificate }),
    },
    system: { networkClient: networkModule(settings.ca) },
  });
  const pkce = new CryptoProvider();
  const scopes = ['openid', 'profile', settings.apiScope];

  /**
   * Where to send the browser, and what to keep until it comes back. `authContext` (a Conditional
   * Access authentication context id) sends the user through step-up: the claims challenge asks
   * Entra for an access token whose `acrs` holds it.
   */
  async function begin(opts: { authContext?: string; loginHint?: string } = {}): Promise<{ url: string; pending: PendingSignIn }> {
    const { verifier, challenge } = await pkce.generatePkceCodes();
    const pending: PendingSignIn = { state: crypto.randomBytes(24).toString('base64url'), nonce: crypto.randomBytes(24).toString('base64url'), codeVerifier: verifier };
    const url = await app.getAuthCodeUrl({
      scopes,
      redirectUri: settings.redirectUri,
      responseMode: 'query',
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      ...(opts.loginHint ? { loginHint: opts.loginHint } : {}),
      ...(opts.authContext ? { claims: JSON.stringify({ access_token: { acrs: { essential: true, value: opts.authContext } } }) } : {}),
    });
    return { url, pending };
  }

  /** Redeems the code the browser brought back; the access token for the API (verified by the caller like any bearer token). */
  async function complete(code: string, pending: PendingSignIn): Promise<{ accessToken: string }> {
    // The nonce is checked against the ID token's: a token minted for another sign-in is refused.
    const payload: AuthorizationCodePayload = { code, state: pending.state, nonce: pending.nonce };
    const result = await app.acquireTokenByCode({ code, scopes, redirectUri: settings.redirectUri, codeVerifier: pending.codeVerifier, state: pending.state }, payload);
    return { accessToken: result.accessToken };
  }

  return { begin, complete };
}

export type EntraSignIn = ReturnType<typeof createEntraSignIn>;
