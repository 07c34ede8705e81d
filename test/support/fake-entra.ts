import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { JWK, KeyLike, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import selfsigned from 'selfsigned';

/**
 * A local OIDC issuer shaped like Microsoft Entra ID (see
 * ../shared/notes/azure-keyvault-and-entra-offline.md §8), on 127.0.0.1 with Entra's path layout,
 * so a daemon is configured with only `authority` (= `base`), `tenantId` and `audience`:
 *
 * - `GET /{tid}/v2.0/.well-known/openid-configuration`: the discovery document;
 * - `GET /{tid}/discovery/v2.0/keys` (and v1's `/{tid}/discovery/keys`): the published keys, counted;
 * - `POST /{tid}/oauth2/v2.0/token`: a client-credentials grant minting a v1-style app token
 *   (`aud` the scope's resource, default https://vault.azure.net; `iss` https://sts.windows.net/{tid}/).
 *
 * Keys are RS256. A kid may exist without being published: `mint(claims, { kid })` signs with it
 * (made on first use), `rotate(kid)` publishes it first in the JWKS (the others stay, as Entra
 * publishes several), `drop(kid)` withdraws it.
 */
export interface FakeEntra {
  /** The authority: `{base}/{tenantId}/v2.0` is the issuer. */
  base: string;
  tenantId: string;
  /** The API's client id that user tokens are minted for (their `aud`). */
  audience: string;
  /** `{base}/{tenantId}/v2.0`. */
  issuer: string;
  /** The oid of user tokens when the claims name none. */
  defaultOid: string;
  /** With `https: true`, the PEM certificate to trust (`identity.oidc.caFile`). */
  ca?: string;
  /** A v2.0 user access token: the template's claims, overridden by `claims` (an `undefined` value removes a claim). */
  mint(claims?: Record<string, unknown>, opts?: MintOptions): Promise<string>;
  /** Publishes `kid` (making the key if needed) first in the JWKS; later mints sign with it by default. */
  rotate(kid: string): Promise<void>;
  /** Withdraws `kid` from the JWKS; it can still sign (as a withdrawn key could). */
  drop(kid: string): void;
  /** The kid mints use by default: the first one published. */
  currentKid(): string;
  /** The public key of `kid` as a JWK, and as SPKI PEM (for algorithm-confusion attacks). */
  publicJwk(kid?: string): Promise<JWK>;
  publicPem(kid?: string): Promise<string>;
  /** How many times the keys were fetched. */
  jwksHits(): number;
  /** How many times the discovery document was fetched. */
  discoveryHits(): number;
  /** How many tokens the token endpoint issued. */
  tokensIssued(): number;
  /** The authorization requests the login form was shown for (their query parameters), newest last. */
  authorizeRequests(): URLSearchParams[];
  /** Closes the server (every connection): the issuer is down. */
  stop(): Promise<void>;
  /** Listens again on the same port: the issuer is back, with the same keys. */
  restart(): Promise<void>;
}

export interface MintOptions {
  /** Signs with this kid (default: the current one); an unknown kid gets a fresh, unpublished key. */
  kid?: string;
  /** `iat` and `nbf` (default: the fake's clock). */
  at?: Date;
  ttlSeconds?: number;
  /** Extra or overriding protected-header members. */
  header?: Record<string, unknown>;
}

export interface FakeEntraOptions {
  tenantId?: string;
  audience?: string;
  /** The first published kid. */
  kid?: string;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (exposed as `ca`). */
  https?: boolean;
  /** Where `iat` comes from (the test app's manual clock); default the system clock. */
  clock?: { now(): Date };
  /** Client id → secret accepted by the token endpoint; empty accepts any client. */
  clients?: Record<string, string>;
  /**
   * People who can sign in at the authorization endpoint's login form (the portal's code flow):
   * login name → password and the claims their access token carries (oid, name, roles, groups...).
   */
  users?: Record<string, { password: string; claims: Record<string, unknown> }>;
  /** Redirect URIs registered for the web app (the code flow refuses any other). */
  redirectUris?: string[];
}

/** An authorization code handed out at the login form: single use, five minutes. */
interface IssuedCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce?: string;
  login: string;
  /** The claims challenge the authorization request carried (step-up): the `acrs` it asked for. */
  acrs?: string[];
  expiresAt: number;
}

interface SigningKey {
  privateKey: KeyLike;
  publicKey: KeyLike;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export async function start(opts: FakeEntraOptions = {}): Promise<FakeEntra> {
  const tenantId = opts.tenantId ?? crypto.randomUUID();
  const audience = opts.audience ?? crypto.randomUUID();
  const defaultOid = crypto.randomUUID();
  const clock = opts.clock ?? { now: () => new Date() };
  const keys = new Map<string, SigningKey>();
  let published: string[] = [];
  const hits = { jwks: 0, discovery: 0, tokens: 0 };
  const codes = new Map<string, IssuedCode>();
  const authorizeRequests: URLSearchParams[] = [];

  async function keyOf(kid: string): Promise<SigningKey> {
    let k = keys.get(kid);
    if (!k) {
      const pair = await generateKeyPair('RS256', { extractable: true });
      k = { privateKey: pair.privateKey, publicKey: pair.publicKey };
      keys.set(kid, k);
    }
    return k;
  }
  await keyOf(opts.kid ?? 'kid-1');
  published = [opts.kid ?? 'kid-1'];

  let tls: { key: string; cert: string } | undefined;
  if (opts.https) {
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      notAfterDate: new Date(Date.now() + 86400000),
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    tls = { key: pems.private, cert: pems.cert };
  }

  let base = '';
  const issuerOf = (tid: string) => `${base}/${tid}/v2.0`;

  async function sign(payload: Record<string, unknown>, kid: string, header: Record<string, unknown> = {}): Promise<string> {
    const k = await keyOf(kid);
    const claims = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
    return new SignJWT(claims).setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid, ...header }).sign(k.privateKey);
  }

  async function mint(claims: Record<string, unknown> = {}, mo: MintOptions = {}): Promise<string> {
    const iat = seconds(mo.at ?? clock.now());
    const oid = (claims.oid as string | undefined) ?? defaultOid;
    const template: Record<string, unknown> = {
      aud: audience,
      iss: issuerOf(tenantId),
      iat,
      nbf: iat,
      exp: iat + (mo.ttlSeconds ?? 3600),
      aio: crypto.randomBytes(24).toString('base64url'),
      azp: crypto.randomUUID(),
      azpacr: '0',
      name: 'Test User',
      oid,
      preferred_username: 'test.user@contoso.example',
      rh: '0.AAAA' + crypto.randomBytes(12).toString('base64url'),
      scp: 'access_as_user',
      // Pairwise: differs per app, so never the broker's subject.
      sub: crypto.createHash('sha256').update(`${oid}:${audience}`).digest('base64url').slice(0, 43),
      tid: tenantId,
      uti: crypto.randomBytes(16).toString('base64url'),
      ver: '2.0',
    };
    return sign({ ...template, ...claims }, mo.kid ?? published[0] ?? 'kid-1', mo.header);
  }

  async function jwks(): Promise<{ keys: JWK[] }> {
    const out: JWK[] = [];
    for (const kid of published) {
      const jwk = await exportJWK((await keyOf(kid)).publicKey);
      // Entra's shape: no alg; x5t equal to kid; the issuer with {tenantid} for multi-tenant use.
      out.push({ kty: jwk.kty, use: 'sig', kid, x5t: kid, n: jwk.n, e: jwk.e, issuer: issuerOf(tenantId) } as JWK);
    }
    return { keys: out };
  }

  function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const [tid, ...rest] = parts;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (tid !== tenantId && tid !== 'common') return send(400, { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tid}' not found.` });
    const path = rest.join('/');
    if (req.method === 'GET' && path === 'v2.0/.well-known/openid-configuration') {
      hits.discovery++;
      const t = tid as string;
      return send(200, {
        issuer: issuerOf(t),
        jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
        token_endpoint: `${base}/${t}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/${t}/oauth2/v2.0/logout`,
        id_token_signing_alg_values_supported: ['RS256'],
        subject_types_supported: ['pairwise'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
      });
    }
    if (req.method === 'GET' && (path === 'discovery/v2.0/keys' || path === 'discovery/keys')) {
      hits.jwks++;
      return send(200, await jwks());
    }
    if (path === 'oauth2/v2.0/authorize') return authorize(req, res, url, send);
    if (req.method === 'POST' && path === 'oauth2/v2.0/token') {
      const form = new URLSearchParams(await readBody(req));
      const clientId = form.get('client_id');
      if (form.get('grant_type') === 'authorization_code' && clientId) return redeemCode(form, clientId, send);
      if (form.get('grant_type') !== 'client_credentials' || !clientId) {
        return send(400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003: only client_credentials is served here.' });
      }
      if (clientRefused(form, clientId)) return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
      const scope = form.get('scope') ?? 'https://vault.azure.net/.default';
      const iat = seconds(clock.now());
      const sp = crypto.createHash('sha256').update(clientId).digest('hex');
      const spOid = `${sp.slice(0, 8)}-${sp.slice(8, 12)}-${sp.slice(12, 16)}-${sp.slice(16, 20)}-${sp.slice(20, 32)}`;
      const accessToken = await sign(
        {
          aud: scope.replace(/\/\.default$/, ''),
          iss: `https://sts.windows.net/${tenantId}/`,
          iat,
          nbf: iat,
          exp: iat + 3599,
          appid: clientId,
          appidacr: '1',
          idtyp: 'app',
          oid: spOid,
          sub: spOid,
          tid: tenantId,
          ver: '1.0',
        },
        published[0] ?? 'kid-1',
        { x5t: published[0] },
      );
      hits.tokens++;
      return send(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken });
    }
    return send(404, { error: 'not_found' });
  }

  const clientRefused = (form: URLSearchParams, clientId: string): boolean => {
    const expected = opts.clients?.[clientId];
    return opts.clients !== undefined && Object.keys(opts.clients).length > 0 && (expected === undefined || form.get('client_secret') !== expected);
  };
  const escapeHtml = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  /**
   * The authorization endpoint: GET shows a login form for the request (as Entra's sign-in page
   * would), POST checks the login and sends the browser back to the redirect URI with a code and
   * the state. Only the code flow with PKCE (S256) is served; a request without it is refused.
   */
  async function authorize(req: http.IncomingMessage, res: http.ServerResponse, url: URL, send: (status: number, body: unknown) => void): Promise<void> {
    const q = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const clientId = q.get('client_id') ?? '';
    const redirectUri = q.get('redirect_uri') ?? '';
    if (!redirectUri || !(opts.redirectUris ?? []).includes(redirectUri))
      return send(400, { error: 'invalid_request', error_description: `AADSTS50011: The redirect URI '${redirectUri}' does not match the redirect URIs configured.` });
    if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
      return send(400, { error: 'invalid_request', error_description: 'AADSTS9002325: Proof Key for Code Exchange is required.' });
    }
    if (opts.clients && Object.keys(opts.clients).length > 0 && opts.clients[clientId] === undefined)
      return send(400, { error: 'unauthorized_client', error_description: `AADSTS700016: Application '${clientId}' not found.` });
    if (req.method === 'GET') {
      authorizeRequests.push(new URLSearchParams(url.searchParams));
      const hidden = [...q].map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(
        `<!doctype html><html lang="en"><head><title>Sign in to your account</title></head><body><main><h1>Sign in</h1>` +
          `<form method="post">${hidden}<label>Email, phone or Skype <input name="login" autocomplete="username"></label>` +
          `<label>Password <input name="passwd" type="password" autocomplete="current-password"></label><button type="submit">Sign in</button>` +
          `<button type="submit" name="cancel" value="1" formnovalidate>Cancel</button></form></main></body></html>`,
      );
      return;
    }
    if (q.get('cancel') !== null) {
      // What Entra sends back when the person backs out of the sign-in (or declines consent).
      const back = new URL(redirectUri);
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'AADSTS65004: User declined to consent to access the app.');
      if (q.get('state') !== null) back.searchParams.set('state', q.get('state') as string);
      res.writeHead(302, { location: back.toString(), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const login = (q.get('login') ?? '').toLowerCase();
    const user = opts.users?.[login];
    if (!user || user.password !== q.get('passwd')) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html lang="en"><head><title>Sign in</title></head><body><h1>Your account or password is incorrect.</h1></body></html>');
      return;
    }
    let acrs: string[] | undefined;
    const claims = q.get('claims');
    if (claims) {
      const asked = (JSON.parse(claims) as { access_token?: { acrs?: { value?: string; values?: string[] } } }).access_token?.acrs;
      acrs = asked?.values ?? (asked?.value ? [asked.value] : undefined);
    }
    const code = crypto.randomBytes(32).toString('base64url');
    codes.set(code, { clientId, redirectUri, codeChallenge: q.get('code_challenge') as string, nonce: q.get('nonce') ?? undefined, login, acrs, expiresAt: Date.now() + 300000 });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state') as string);
    back.searchParams.set('session_state', crypto.randomUUID());
    res.writeHead(302, { location: back.toString(), 'cache-control': 'no-store' });
    res.end();
  }

  /** The token endpoint's authorization_code grant: the client, the code (once), its redirect URI and the PKCE verifier checked. */
  async function redeemCode(form: URLSearchParams, clientId: string, send: (status: number, body: unknown) => void): Promise<void> {
    if (clientRefused(form, clientId)) return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
    const code = codes.get(form.get('code') ?? '');
    codes.delete(form.get('code') ?? '');
    const verifier = form.get('code_verifier') ?? '';
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    if (!code || code.expiresAt < Date.now() || code.clientId !== clientId || code.redirectUri !== form.get('redirect_uri')) {
      return send(400, { error: 'invalid_grant', error_description: 'AADSTS70008: The provided authorization code or refresh token has expired or was already used.' });
    }
    if (challenge !== code.codeChallenge)
      return send(400, { error: 'invalid_grant', error_description: 'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.' });
    const user = opts.users?.[code.login] as { claims: Record<string, unknown> };
    const oid = (user.claims.oid as string | undefined) ?? defaultOid;
    const iat = seconds(clock.now());
    const accessToken = await mint({ preferred_username: code.login, azp: clientId, ...user.claims, ...(code.acrs ? { acrs: code.acrs } : {}) });
    const idToken = await sign(
      {
        aud: clientId,
        iss: issuerOf(tenantId),
        iat,
        nbf: iat,
        exp: iat + 3600,
        oid,
        sub: oid,
        tid: tenantId,
        name: user.claims.name ?? code.login,
        preferred_username: code.login,
        nonce: code.nonce,
        ver: '2.0',
      },
      published[0] ?? 'kid-1',
    );
    hits.tokens++;
    const clientInfo = Buffer.from(JSON.stringify({ uid: oid, utid: tenantId })).toString('base64url');
    return send(200, {
      token_type: 'Bearer',
      scope: form.get('scope') ?? '',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: accessToken,
      id_token: idToken,
      client_info: clientInfo,
    });
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    route(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'server_error', error_description: String(e) }));
    });
  };
  let server: http.Server | https.Server;
  let port = 0;
  async function listen(): Promise<void> {
    server = tls ? https.createServer(tls, handler) : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as AddressInfo).port;
    base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }
  await listen();
  let running = true;

  return {
    base,
    tenantId,
    audience,
    issuer: issuerOf(tenantId),
    defaultOid,
    ...(tls ? { ca: tls.cert } : {}),
    mint,
    async rotate(kid) {
      await keyOf(kid);
      published = [kid, ...published.filter((k) => k !== kid)];
    },
    drop(kid) {
      published = published.filter((k) => k !== kid);
    },
    currentKid: () => published[0] ?? 'kid-1',
    async publicJwk(kid) {
      return exportJWK((await keyOf(kid ?? published[0] ?? 'kid-1')).publicKey);
    },
    async publicPem(kid) {
      return exportSPKI((await keyOf(kid ?? published[0] ?? 'kid-1')).publicKey);
    },
    jwksHits: () => hits.jwks,
    discoveryHits: () => hits.discovery,
    tokensIssued: () => hits.tokens,
    authorizeRequests: () => [...authorizeRequests],
    async stop() {
      if (!running) return;
      running = false;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    async restart() {
      if (running) return;
      await listen();
      running = true;
    },
  };
}

/** What a browser does at the fake's authorize page: its login form filled in and posted; where the redirect back goes. */
export async function submitLoginForm(url: string, ca: string | undefined, login = 'alice@contoso.example', passwd = 'pw-alice'): Promise<URL> {
  const send = (body?: string) =>
    new Promise<{ status: number; location?: string; text: string }>((resolve, reject) => {
      const req = https.request(new URL(url), { method: body ? 'POST' : 'GET', ca, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const form = await send();
  expect(form.status).toBe(200);
  const fields = new URLSearchParams(
    [...form.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1] as string,
      (m[2] as string).replace(/&#(\d+);/g, (_x, c: string) => String.fromCharCode(Number(c))),
    ]),
  );
  fields.set('login', login);
  fields.set('passwd', passwd);
  const back = await send(fields.toString());
  expect(back.status).toBe(302);
  return new URL(back.location as string);
}
