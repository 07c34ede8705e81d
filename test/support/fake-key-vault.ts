import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { AddressInfo, Socket } from 'node:net';
import selfsigned from 'selfsigned';

/**
 * A local HTTPS server that speaks the Key Vault secrets REST protocol to the real SDK, after
 * ../shared/notes/azure-keyvault-and-entra-offline.md: the bare first request and its 401 bearer
 * challenge, set / get (latest and by version) / update properties / list versions (paged,
 * shuffled) / list secrets / delete / recover / purge, JSON error bodies in Key Vault's shape, and
 * injected faults (429 with and without Retry-After, 503, dropped connections, hung answers).
 * Its log never holds a secret value, so tests can search it for leaks.
 */

interface Version {
  id: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface StoredSecret {
  name: string;
  versions: Version[];
  deletedDate?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  hasAuth: boolean;
  bodyLength: number;
  status: number;
}

export interface Fault {
  /** Which requests it hits (all by default); `times` bounds how many. */
  match?: (req: { method: string; path: string }) => boolean;
  times?: number;
  status?: number;
  headers?: Record<string, string>;
  /** A JSON body; `''` sends none (the SDK then cannot parse an error). */
  body?: unknown;
  /** Drop the connection without answering. */
  destroy?: boolean;
  /** Answer after this long (or never, with Infinity). */
  hangMs?: number;
}

export interface FakeKeyVault {
  base: string;
  /** The self-signed certificate the server presents, to pass to the SDK as `tlsOptions.ca`. */
  ca: string;
  tenantId: string;
  log: LoggedRequest[];
  faults: Fault[];
  secrets: Map<string, StoredSecret>;
  /** Access tokens the authority handed out (client credentials and managed identity alike). */
  tokensIssued(): number;
  /**
   * An App Service / Container Apps style managed identity endpoint on plain loopback HTTP, as
   * those platforms serve it: what to put in IDENTITY_ENDPOINT and IDENTITY_HEADER.
   */
  managedIdentity: { endpoint: string; header: string };
  /** Every value the vault holds, for leak checks. */
  values(): string[];
  close(): Promise<void>;
}

const recoverable = { recoverableDays: 90, recoveryLevel: 'Recoverable+Purgeable' };
const nameRe = /^[0-9a-zA-Z-]{1,127}$/;
const maxValueBytes = 25 * 1024;
const pageMax = 25;

export const throttle = (retryAfterSeconds?: number, times = 1, match?: Fault['match']): Fault => ({
  match,
  times,
  status: 429,
  headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  body: { error: { code: 'Throttled', message: 'Operations per second limit reached. Reason: VaultRequestTypeLimitReached' } },
});
export const unavailable = (times = 1, match?: Fault['match']): Fault => ({
  match,
  times,
  status: 503,
  body: { error: { code: 'ServiceUnavailable', message: 'The service is unavailable.' } },
});
export const bareUnavailable = (times = 1, match?: Fault['match']): Fault => ({ match, times, status: 503, body: '' });
export const dropConnection = (times = 1, match?: Fault['match']): Fault => ({ match, times, destroy: true });
export const hang = (times = 1, match?: Fault['match'], hangMs = Infinity): Fault => ({ match, times, hangMs });

export interface FakeKeyVaultOptions {
  tenantId?: string;
  authorize?: (bearer: string) => boolean | Promise<boolean>;
  /** Applications with a client secret (client id → secret). */
  clients?: Record<string, string>;
  /** Applications with a certificate credential (client id → the PEM certificate, public part only, as uploaded to Entra). */
  certificates?: Record<string, string>;
  /** Federated identity credentials (client id → the external token Entra accepts as its assertion, e.g. a Kubernetes service account token). */
  federatedTokens?: Record<string, string>;
  /** User-assigned managed identities the identity endpoint knows (client ids); a system-assigned one always exists. */
  managedIdentities?: string[];
}

const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
// Entra allows assertions a little clock skew.
const skewSeconds = 300;

/**
 * Checks a client assertion the way Entra checks one signed with an application's certificate:
 * the header names the registered certificate by thumbprint (x5t#S256, or the older SHA-1 x5t),
 * the signature verifies with its public key (RS256 or PS256), the audience is the token
 * endpoint, issuer and subject are the client id, and it has not expired. Undefined when valid.
 */
export function clientAssertionProblem(assertion: string, clientId: string, certificatePem: string, tokenEndpoint: string, nowSeconds: number): string | undefined {
  const parts = assertion.split('.');
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    if (parts.length !== 3) throw new Error('not a JWS');
    header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'AADSTS50027: JWT token is invalid or malformed.';
  }
  const cert = new crypto.X509Certificate(certificatePem);
  const thumbprint = (alg: string) => crypto.createHash(alg).update(cert.raw).digest('base64url');
  const named = header['x5t#S256'] !== undefined ? header['x5t#S256'] === thumbprint('sha256') : header.x5t !== undefined && header.x5t === thumbprint('sha1');
  if (!named) return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] as string, 'base64url');
  const verified =
    header.alg === 'RS256'
      ? crypto.verify('sha256', signed, cert.publicKey, signature)
      : header.alg === 'PS256'
        ? crypto.verify('sha256', signed, { key: cert.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }, signature)
        : false;
  if (!verified) return 'AADSTS700027: Client assertion failed signature validation.';
  if (claims.aud !== tokenEndpoint) return `AADSTS700027: The audience of the client assertion is not the token endpoint ${tokenEndpoint}.`;
  if (claims.iss !== clientId || claims.sub !== clientId) return 'AADSTS700027: The issuer and subject of the client assertion must be the client id.';
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds - skewSeconds || (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + skewSeconds)) {
    return 'AADSTS700024: Client assertion is not within its valid time range.';
  }
  return undefined;
}

export async function startFakeKeyVault(opts: FakeKeyVaultOptions = {}): Promise<FakeKeyVault> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    notAfterDate: new Date(Date.now() + 86400000),
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const tenantId = opts.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  // Clients allowed the client-credentials grant (id → secret, certificate or federated token); tokens it issued are accepted.
  const clients = new Map<string, string>(Object.entries(opts.clients ?? {}));
  const certificates = new Map<string, string>(Object.entries(opts.certificates ?? {}));
  const federatedTokens = new Map<string, string>(Object.entries(opts.federatedTokens ?? {}));
  const managedIdentities = new Set(opts.managedIdentities ?? []);
  const identityHeader = crypto.randomBytes(16).toString('hex');
  const issued = new Set<string>();
  let tokensIssued = 0;
  const authorize = opts.authorize ?? ((t: string) => t === 'test-token' || issued.has(t));
  const secrets = new Map<string, StoredSecret>();
  const deleted = new Map<string, StoredSecret>();
  const log: LoggedRequest[] = [];
  const faults: Fault[] = [];
  const sockets = new Set<Socket>();
  const hung = new Set<http.ServerResponse>();
  let base = '';

  const now = () => Math.floor(Date.now() / 1000);
  const attributes = (v: Version) => ({
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
    ...(v.exp !== undefined ? { exp: v.exp } : {}),
    created: v.created,
    updated: v.updated,
    ...recoverable,
  });
  const bundle = (s: StoredSecret, v: Version, withValue: boolean) => ({
    ...(withValue ? { value: v.value } : {}),
    id: `${base}/secrets/${s.name}/${v.id}`,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributes(v),
    ...(v.tags ? { tags: v.tags } : {}),
  });
  const deletedBundle = (s: StoredSecret) => {
    const latest = s.versions[s.versions.length - 1] as Version;
    return {
      ...bundle(s, latest, false),
      id: `${base}/secrets/${s.name}/${latest.id}`,
      recoveryId: `${base}/deletedsecrets/${s.name}`,
      deletedDate: s.deletedDate,
      scheduledPurgeDate: (s.deletedDate as number) + 90 * 86400,
    };
  };
  const notFound = (name: string) => ({
    status: 404,
    body: {
      error: {
        code: 'SecretNotFound',
        message: `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
      },
    },
  });
  const bad = (message: string) => ({ status: 400, body: { error: { code: 'BadParameter', message } } });

  function page<T>(url: URL, items: T[], pathname: string) {
    const max = Math.min(pageMax, Number(url.searchParams.get('maxresults') ?? pageMax) || pageMax);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0) || 0;
    const slice = items.slice(skip, skip + max);
    const more = skip + max < items.length;
    return {
      status: 200,
      body: {
        value: slice,
        nextLink: more ? `${base}${pathname}?api-version=${url.searchParams.get('api-version')}&$skiptoken=${skip + max}&maxresults=${max}` : null,
      },
    };
  }

  // Key Vault promises no order for versions (one was seen listing them by hash): a stable order unrelated to creation.
  const hashOrder = (id: string) => crypto.createHash('sha256').update(id).digest('hex');
  const shuffled = (xs: Version[]) => [...xs].sort((a, b) => (hashOrder(a.id) < hashOrder(b.id) ? -1 : 1));

  function route(method: string, url: URL, body: string): { status: number; body?: unknown } {
    const parts = url.pathname.split('/').slice(1);
    const [collection, rawName, third] = parts;
    const name = rawName?.toLowerCase();
    if (collection === 'secrets' && parts.length === 1 && method === 'GET') {
      const items = [...secrets.values()].map((s) => {
        const latest = s.versions[s.versions.length - 1] as Version;
        return { id: `${base}/secrets/${s.name}`, ...(latest.contentType ? { contentType: latest.contentType } : {}), attributes: attributes(latest), tags: latest.tags };
      });
      return page(url, items, '/secrets');
    }
    if (collection === 'secrets' && name !== undefined) {
      const s = secrets.get(name);
      if (method === 'PUT' && parts.length === 2) {
        if (!nameRe.test(rawName as string)) return bad(`The request URI contains an invalid name: ${rawName}`);
        if (deleted.has(name)) {
          return {
            status: 409,
            body: {
              error: {
                code: 'Conflict',
                message: `Secret ${rawName} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
                innererror: { code: 'ObjectIsDeletedButRecoverable' },
              },
            },
          };
        }
        let req: { value?: unknown; tags?: Record<string, string>; contentType?: string; attributes?: { enabled?: boolean; nbf?: number; exp?: number } };
        try {
          req = JSON.parse(body) as typeof req;
        } catch {
          return bad('The request body is not valid JSON.');
        }
        if (typeof req.value !== 'string') return bad('Property value is required.');
        if (Buffer.byteLength(req.value) > maxValueBytes) return bad('Secret value is too large.');
        if (req.tags && Object.keys(req.tags).length > 15) return bad('Too many tags.');
        const t = now();
        const v: Version = {
          id: crypto.randomBytes(16).toString('hex'),
          value: req.value,
          contentType: req.contentType,
          tags: req.tags,
          enabled: req.attributes?.enabled ?? true,
          nbf: req.attributes?.nbf,
          exp: req.attributes?.exp,
          created: t,
          updated: t,
        };
        const target = s ?? { name: rawName as string, versions: [] };
        target.versions.push(v);
        secrets.set(name, target);
        return { status: 200, body: bundle(target, v, true) };
      }
      if (!s) return notFound(rawName as string);
      if (method === 'GET' && third === 'versions' && parts.length === 3) {
        return page(
          url,
          shuffled(s.versions).map((v) => bundle(s, v, false)),
          `/secrets/${s.name}/versions`,
        );
      }
      if (method === 'GET' && parts.length === 3) {
        const v = third === '' ? s.versions[s.versions.length - 1] : s.versions.find((x) => x.id === third);
        if (!v) return notFound(`${rawName}/${third}`);
        if (!v.enabled)
          return { status: 403, body: { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } } } };
        return { status: 200, body: bundle(s, v, true) };
      }
      if (method === 'PATCH' && parts.length === 3 && third) {
        const v = s.versions.find((x) => x.id === third);
        if (!v) return notFound(`${rawName}/${third}`);
        let req: { tags?: Record<string, string>; contentType?: string; attributes?: { enabled?: boolean; nbf?: number; exp?: number } };
        try {
          req = JSON.parse(body || '{}') as typeof req;
        } catch {
          return bad('The request body is not valid JSON.');
        }
        if (req.contentType !== undefined) v.contentType = req.contentType;
        if (req.tags !== undefined) v.tags = req.tags;
        if (req.attributes?.enabled !== undefined) v.enabled = req.attributes.enabled;
        if (req.attributes?.nbf !== undefined) v.nbf = req.attributes.nbf;
        if (req.attributes?.exp !== undefined) v.exp = req.attributes.exp;
        v.updated = now();
        return { status: 200, body: bundle(s, v, false) };
      }
      if (method === 'DELETE' && parts.length === 2) {
        secrets.delete(name);
        s.deletedDate = now();
        deleted.set(name, s);
        return { status: 200, body: deletedBundle(s) };
      }
    }
    if (collection === 'deletedsecrets' && name !== undefined) {
      const s = deleted.get(name);
      if (!s) return { status: 404, body: { error: { code: 'SecretNotFound', message: `Deleted Secret not found: ${rawName}` } } };
      if (method === 'GET' && parts.length === 2) return { status: 200, body: deletedBundle(s) };
      if (method === 'DELETE' && parts.length === 2) {
        deleted.delete(name);
        return { status: 204 };
      }
      if (method === 'POST' && third === 'recover') {
        deleted.delete(name);
        delete s.deletedDate;
        secrets.set(name, s);
        return { status: 200, body: bundle(s, s.versions[s.versions.length - 1] as Version, false) };
      }
    }
    return { status: 404, body: { error: { code: 'NotFound', message: `No route for ${method} ${url.pathname}` } } };
  }

  /**
   * The same server is also the token authority (the Entra paths @azure/identity calls: discovery,
   * then the client-credentials grant with a client secret or a client assertion), so the
   * daemon's real credential code runs for the client-secret, client-certificate and
   * workload-identity kinds.
   */
  function authorityRoute(method: string, url: URL, body: string): { status: number; body: unknown } | undefined {
    const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(url.pathname);
    if (!m) return undefined;
    const t = m[1] as string;
    if (method === 'GET' && m[2]?.startsWith('v2.0')) {
      return {
        status: 200,
        body: {
          issuer: `${base}/${t}/v2.0`,
          token_endpoint: `${base}/${t}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/${t}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/${t}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/${t}/discovery/v2.0/keys`,
          id_token_signing_alg_values_supported: ['RS256'],
          subject_types_supported: ['pairwise'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        },
      };
    }
    if (method === 'POST') {
      const form = new URLSearchParams(body);
      const clientId = form.get('client_id') ?? '';
      const refused = form.has('client_assertion') ? assertionProblem(form, clientId, t) : secretProblem(form, clientId, t);
      if (refused) return refused;
      if (form.get('scope') !== 'https://vault.azure.net/.default') return { status: 400, body: { error: 'invalid_scope', error_description: 'AADSTS70011: invalid scope' } };
      return { status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: issueToken() } };
    }
    return undefined;
  }

  function issueToken(): string {
    const token = crypto.randomBytes(24).toString('base64url');
    issued.add(token);
    tokensIssued++;
    return token;
  }

  function secretProblem(form: URLSearchParams, clientId: string, t: string): { status: number; body: unknown } | undefined {
    const client = clients.get(clientId);
    if (form.get('grant_type') !== 'client_credentials' || !client || client !== form.get('client_secret') || t !== tenantId) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' } };
    }
    return undefined;
  }

  /** The client-assertion grant: a JWT signed with the application's certificate, or a federated token (workload identity). */
  function assertionProblem(form: URLSearchParams, clientId: string, t: string): { status: number; body: unknown } | undefined {
    const invalid = (description: string) => ({ status: 401, body: { error: 'invalid_client', error_description: description } });
    if (form.get('grant_type') !== 'client_credentials' || form.get('client_assertion_type') !== jwtBearer) {
      return { status: 400, body: { error: 'invalid_request', error_description: `AADSTS50027: client_assertion_type must be ${jwtBearer}.` } };
    }
    if (t !== tenantId) return { status: 400, body: { error: 'invalid_request', error_description: `AADSTS90002: Tenant '${t}' not found.` } };
    const assertion = form.get('client_assertion') ?? '';
    const certificate = certificates.get(clientId);
    if (certificate) {
      const problem = clientAssertionProblem(assertion, clientId, certificate, `${base}/${t}/oauth2/v2.0/token`, now());
      return problem ? invalid(problem) : undefined;
    }
    const federated = federatedTokens.get(clientId);
    if (federated !== undefined) {
      const same = assertion.length === federated.length && crypto.timingSafeEqual(Buffer.from(assertion), Buffer.from(federated));
      return same ? undefined : invalid('AADSTS70021: No matching federated identity record found for presented assertion.');
    }
    return { status: 400, body: { error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${clientId}' was not found in the directory.` } };
  }

  /**
   * The App Service identity endpoint (API 2019-08-01), which ManagedIdentityCredential calls when
   * IDENTITY_ENDPOINT and IDENTITY_HEADER are set: GET with the secret header, the resource and,
   * for a user-assigned identity, its client_id.
   */
  function managedIdentityRoute(url: URL, headers: http.IncomingHttpHeaders): { status: number; body: unknown } {
    if (url.pathname !== '/msi/token') return { status: 404, body: { statusCode: 404, message: 'Not found' } };
    if (headers['x-identity-header'] !== identityHeader) return { status: 401, body: { statusCode: 401, message: 'The X-IDENTITY-HEADER is missing or wrong.' } };
    if (url.searchParams.get('api-version') !== '2019-08-01') return { status: 400, body: { statusCode: 400, message: 'Unsupported api-version.' } };
    const resource = url.searchParams.get('resource');
    if (resource !== 'https://vault.azure.net') return { status: 400, body: { statusCode: 400, message: `Unexpected resource ${resource}.` } };
    const clientId = url.searchParams.get('client_id');
    if (clientId !== null && !managedIdentities.has(clientId)) {
      return { status: 400, body: { statusCode: 400, message: 'Unable to load the proper Managed Identity.' } };
    }
    return {
      status: 200,
      body: { access_token: issueToken(), expires_on: String(now() + 3600), resource, token_type: 'Bearer', ...(clientId !== null ? { client_id: clientId } : {}) },
    };
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    const text = body === undefined || body === '' ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}), 'x-ms-keyvault-service-version': '1.9.0.0', ...headers });
    res.end(text);
  }

  const server = https.createServer({ cert: pems.cert, key: pems.private }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const url = new URL(req.url ?? '/', base);
        const method = req.method ?? 'GET';
        const entry: LoggedRequest = { method, path: url.pathname, hasAuth: Boolean(req.headers.authorization), bodyLength: body.length, status: 0 };
        log.push(entry);
        const fault = faults.find((f) => (f.times ?? 1) > 0 && (!f.match || f.match({ method, path: url.pathname })));
        if (fault) {
          fault.times = (fault.times ?? 1) - 1;
          if (fault.destroy) {
            entry.status = -1;
            req.socket.destroy();
            return;
          }
          if (fault.hangMs !== undefined) {
            hung.add(res);
            if (fault.hangMs === Infinity) return;
            await new Promise((r) => setTimeout(r, fault.hangMs));
            hung.delete(res);
          }
          if (fault.status !== undefined) {
            entry.status = fault.status;
            return send(res, fault.status, fault.body, fault.headers);
          }
        }
        const authority = authorityRoute(method, url, body);
        if (authority) {
          entry.status = authority.status;
          return send(res, authority.status, authority.body);
        }
        const auth = req.headers.authorization ?? '';
        const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
        if (!bearer || !(await authorize(bearer))) {
          entry.status = 401;
          return send(
            res,
            401,
            { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
            {
              'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"`,
            },
          );
        }
        if (!url.searchParams.get('api-version')) {
          entry.status = 400;
          return send(res, 400, { error: { code: 'BadParameter', message: 'The request URI must contain an api-version.' } });
        }
        const out = route(method, url, body);
        entry.status = out.status;
        send(res, out.status, out.body);
      })();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Plain HTTP on loopback, as App Service and Container Apps serve their identity endpoint.
  const identityServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const entry: LoggedRequest = { method: req.method ?? 'GET', path: url.pathname, hasAuth: Boolean(req.headers['x-identity-header']), bodyLength: 0, status: 0 };
    log.push(entry);
    const out = req.method === 'GET' ? managedIdentityRoute(url, req.headers) : { status: 405, body: { statusCode: 405, message: 'Method not allowed' } };
    entry.status = out.status;
    send(res, out.status, out.body);
  });
  await new Promise<void>((resolve) => identityServer.listen(0, '127.0.0.1', resolve));
  const identityEndpoint = `http://127.0.0.1:${(identityServer.address() as AddressInfo).port}/msi/token`;

  return {
    base,
    ca: pems.cert,
    tenantId,
    log,
    faults,
    secrets,
    tokensIssued: () => tokensIssued,
    managedIdentity: { endpoint: identityEndpoint, header: identityHeader },
    values: () => [...secrets.values(), ...deleted.values()].flatMap((s) => s.versions.map((v) => v.value)),
    close: async () => {
      for (const res of hung) res.destroy();
      for (const s of sockets) s.destroy();
      identityServer.closeAllConnections();
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => identityServer.close(() => resolve()))]);
    },
  };
}
