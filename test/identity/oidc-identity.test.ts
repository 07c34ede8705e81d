import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import pino from 'pino';
import { tokenCommand } from '../../src/cli/serve-command';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { checkStartup } from '../../src/startup/startup-checks';
import { IdentityProvider } from '../../src/identity/identity-provider';
import { OidcSettings } from '../../src/identity/oidc/oidc-config';
import { createOidcIdentity, mapRoles } from '../../src/identity/oidc/oidc-identity';
import { authContextChallenge } from '../../src/identity/step-up';
import { DomainError } from '../../src/problems/problem';
import { ManualClock, createManualClock } from '../../src/time/clock';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';

const guid = () => crypto.randomUUID();

function settingsFor(entra: Pick<FakeEntra, 'base' | 'tenantId' | 'audience'>, over: Partial<OidcSettings> = {}): OidcSettings {
  return {
    authority: entra.base,
    tenantId: entra.tenantId,
    audience: entra.audience,
    allowedTenants: [],
    roleMap: {},
    jwksCacheMaxAgeSeconds: 3600,
    jwksCooldownSeconds: 0.2,
    lastGoodKeysForSeconds: 24 * 3600,
    fetchTimeoutSeconds: 5,
    ...over,
  };
}

interface Harness {
  entra: FakeEntra;
  clock: ManualClock;
  identity: IdentityProvider;
  logLines: string[];
}

async function harness(entraOpts: Parameters<typeof startFakeEntra>[0] = {}, over: Partial<OidcSettings> = {}, opts: { stopped?: boolean } = {}): Promise<Harness> {
  const clock = createManualClock(new Date());
  const entra = await startFakeEntra({ clock, ...entraOpts });
  if (opts.stopped) await entra.stop();
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) });
  const { provider } = await createOidcIdentity({ settings: settingsFor(entra, over), clockSkewSeconds: 60, clock, logger });
  return { entra, clock, identity: provider, logLines };
}

/** The refusal's code and detail, or 'accepted'. */
async function outcome(identity: IdentityProvider, token: string): Promise<string> {
  try {
    await identity.verify(token);
    return 'accepted';
  } catch (e) {
    if (e instanceof DomainError) return `${e.code}: ${e.message}`;
    throw e;
  }
}

describe('oidc identity (Entra ID v2.0 access tokens): claims to principal', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  });
  afterAll(async () => {
    await h.entra.stop();
  });

  it('maps a v2.0 user token: subject is the immutable oid (not the pairwise sub), tenant is tid, name for display', async () => {
    const oid = guid();
    const group = guid();
    const token = await h.entra.mint({ oid, name: 'Alice Example', roles: ['requester', 'Something.Else'], groups: [group], acrs: ['c1'] });
    const { principal, expiresAt } = await h.identity.verify(token);
    expect(principal).toEqual({
      kind: 'user',
      subject: oid,
      name: 'Alice Example',
      tenant: h.entra.tenantId,
      roles: ['requester'],
      groups: [group],
      authContexts: ['c1'],
      // The sign-in names, lower case: a second key against approving one's own request from another tenant.
      logins: ['test.user@contoso.example'],
    });
    expect(expiresAt).toBe(Math.floor(h.clock.now().getTime() / 1000) + 3600);
  });

  it('shows preferred_username when the token has no name', async () => {
    const { principal } = await h.identity.verify(await h.entra.mint({ name: undefined, preferred_username: 'bob@contoso.example' }));
    expect(principal.name).toBe('bob@contoso.example');
  });

  it('maps app roles by identity by default, and only through roleMap when one is set', () => {
    expect(mapRoles(['requester', 'auditor', 'Broker.Admin', 'requester'], {})).toEqual(['requester', 'auditor']);
    const roleMap = { 'Broker.Admin': 'admin', 'Support.Elevate': 'requester' } as const;
    expect(mapRoles(['Broker.Admin', 'Support.Elevate', 'auditor', 'constructor', 'toString'], roleMap)).toEqual(['admin', 'requester']);
  });

  it.each([
    ['a v1.0 token', { ver: '1.0' }, /ver claim is not 2.0/],
    ['no tid', { tid: undefined }, /tid claim/],
    ['no oid', { oid: undefined, sub: 'x' }, /oid claim/],
    ['no iat', { iat: undefined }, /iat claim/],
    ['no ver', { ver: undefined }, /ver claim/],
    ['an iat 10 minutes ahead', { iat: Math.floor(Date.now() / 1000) + 600 }, /iat claim is in the future/],
  ])('refuses %s', async (_name, claims, reason) => {
    const why = await outcome(h.identity, await h.entra.mint(claims as Record<string, unknown>));
    expect(why).toMatch(/^unauthenticated: /);
    expect(why).toMatch(reason);
  });

  it('refuses a groups-overage token with 403 explaining app roles or group filtering', async () => {
    const token = await h.entra.mint({
      roles: ['requester'],
      _claim_names: { groups: 'src1' },
      _claim_sources: { src1: { endpoint: `https://graph.windows.net/${h.entra.tenantId}/users/x/getMemberObjects` } },
    });
    const why = await outcome(h.identity, token);
    expect(why).toMatch(/^forbidden: /);
    expect(why).toMatch(/groups overage/);
    expect(why).toMatch(/app roles/);
    expect(why).toMatch(/filter the token's groups claim/);
    expect(await outcome(h.identity, await h.entra.mint({ hasgroups: true }))).toMatch(/^forbidden: .*groups overage/);
  });

  it('builds the claims challenge for a step-up to an authentication context', () => {
    const challenge = authContextChallenge('c1');
    const m = /^Bearer error="insufficient_claims", claims="([A-Za-z0-9+/=]+)"$/.exec(challenge);
    expect(m).not.toBeNull();
    expect(JSON.parse(Buffer.from(m?.[1] as string, 'base64').toString('utf8'))).toEqual({ access_token: { acrs: { essential: true, value: 'c1' } } });
  });
});

describe('oidc identity: allowed tenants', () => {
  it('accepts another tenant only when it is listed, and then only with its own issuer', async () => {
    const home = guid();
    const other = guid();
    const foreign = (e: FakeEntra) => e.mint({ tid: other, iss: `${e.base}/${other}/v2.0` });
    const single = await harness({ tenantId: home });
    expect(await outcome(single.identity, await foreign(single.entra))).toMatch(/iss claim/);
    await single.entra.stop();

    const multi = await harness({ tenantId: home }, { allowedTenants: [home, other] });
    expect((await multi.identity.verify(await foreign(multi.entra))).principal.tenant).toBe(other);
    expect((await multi.identity.verify(await multi.entra.mint())).principal.tenant).toBe(home);
    // the iss of one allowed tenant with the tid of another
    expect(await outcome(multi.identity, await multi.entra.mint({ tid: other }))).toMatch(/does not name the tenant in its tid/);
    await multi.entra.stop();

    // allowedTenants replaces the default: the home tenant is refused when the list leaves it out
    const elsewhere = await harness({ tenantId: home }, { allowedTenants: [other] });
    expect(await outcome(elsewhere.identity, await elsewhere.entra.mint())).toMatch(/iss claim/);
    await elsewhere.entra.stop();
  });
});

describe('oidc identity: the JWKS cache (rollover, cooldown, last good keys through an outage)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.entra.stop();
  });

  it('fetches discovery and keys once at start-up and reuses them until jwksCacheMaxAge', async () => {
    expect(h.entra.discoveryHits()).toBe(1);
    expect(h.entra.jwksHits()).toBe(1);
    for (let i = 0; i < 5; i++) await h.identity.verify(await h.entra.mint());
    expect(h.entra.jwksHits()).toBe(1);
    h.clock.advance(60 * 60 * 1000);
    await h.identity.verify(await h.entra.mint());
    expect(h.entra.jwksHits()).toBe(2);
    expect(h.entra.discoveryHits()).toBe(2);
  });

  it('refuses a token from a new kid before the rotation with at most one extra fetch, and accepts it after rotate + cooldown', async () => {
    const token = await h.entra.mint({}, { kid: 'kid-2' });
    const before = h.entra.jwksHits();
    for (let i = 0; i < 20; i++) expect(await outcome(h.identity, token)).toMatch(/signed by a key the identity provider does not publish/);
    h.clock.advance(250);
    await Promise.all(Array.from({ length: 10 }, () => outcome(h.identity, token)));
    expect(h.entra.jwksHits() - before).toBeLessThanOrEqual(1);

    await h.entra.rotate('kid-2');
    // Within the cooldown of the last fetch, no refetch: still refused.
    expect(await outcome(h.identity, token)).toMatch(/does not publish/);
    h.clock.advance(200);
    expect(await outcome(h.identity, token)).toBe('accepted');
    // The old key is still published, as Entra keeps several.
    expect(await outcome(h.identity, await h.entra.mint({}, { kid: 'kid-1' }))).toBe('accepted');
    // New mints default to the rotated key.
    expect(await outcome(h.identity, await h.entra.mint())).toBe('accepted');
  });

  it('stops honouring a dropped key once the keys are refetched', async () => {
    await h.entra.rotate('kid-2');
    h.entra.drop('kid-1');
    const old = await h.entra.mint({}, { kid: 'kid-1' });
    expect(await outcome(h.identity, old)).toBe('accepted');
    h.clock.advance(60 * 60 * 1000);
    expect(await outcome(h.identity, await h.entra.mint({}, { kid: 'kid-1' }))).toMatch(/does not publish/);
  });

  it('keeps verifying with the last good keys while the issuer is down, up to lastGoodKeysFor, then answers unavailable', async () => {
    await h.entra.stop();
    h.clock.advance(60 * 60 * 1000 + 1000);
    expect(await outcome(h.identity, await h.entra.mint())).toBe('accepted');
    expect(h.logLines.some((l) => l.includes("could not fetch the identity provider's signing keys") && l.includes('still verify until'))).toBe(true);
    await expect(h.identity.check?.()).resolves.toBeUndefined();
    h.clock.advance(23 * 60 * 60 * 1000);
    expect(await outcome(h.identity, await h.entra.mint())).toMatch(/^unavailable: .*unreachable for too long/);
    await expect(h.identity.check?.()).rejects.toMatchObject({ code: 'unavailable' });
    // Back: the next fetch after the cooldown restores it.
    await h.entra.restart();
    h.clock.advance(200);
    expect(await outcome(h.identity, await h.entra.mint())).toBe('accepted');
    await expect(h.identity.check?.()).resolves.toBeUndefined();
  });

  it('does not hammer an issuer that is down: at most one attempt per cooldown', async () => {
    await h.entra.stop();
    h.clock.advance(60 * 60 * 1000 + 1000);
    const attempts = () => h.logLines.filter((l) => l.includes("could not fetch the identity provider's signing keys")).length;
    for (let i = 0; i < 10; i++) await h.identity.verify(await h.entra.mint());
    expect(attempts()).toBe(1);
    h.clock.advance(200);
    for (let i = 0; i < 10; i++) await h.identity.verify(await h.entra.mint());
    expect(attempts()).toBe(2);
  });
});

describe('oidc identity: start-up without the issuer, discovery checks, TLS trust and timeouts', () => {
  it('starts when the issuer is down, answers unavailable (not unauthenticated), and recovers when it is back', async () => {
    const h = await harness({}, {}, { stopped: true });
    expect(h.logLines.some((l) => l.includes('identity provider unreachable at start-up'))).toBe(true);
    expect(await outcome(h.identity, await h.entra.mint())).toMatch(/^unavailable: .*could not be fetched/);
    await expect(h.identity.check?.()).rejects.toMatchObject({ code: 'unavailable' });
    await h.entra.restart();
    // Within the cooldown of the failed attempt: not retried yet.
    expect(await outcome(h.identity, await h.entra.mint())).toMatch(/^unavailable/);
    h.clock.advance(200);
    expect(await outcome(h.identity, await h.entra.mint())).toBe('accepted');
    await h.entra.stop();
  });

  it('refuses a discovery document that names another issuer, and fetches no keys from it', async () => {
    const entra = await startFakeEntra();
    const impostor = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: 'https://login.example.net/other/v2.0', jwks_uri: `${entra.base}/${entra.tenantId}/discovery/v2.0/keys` }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', () => resolve()));
    const logLines: string[] = [];
    const { provider } = await createOidcIdentity({
      settings: settingsFor({ ...entra, base: `http://127.0.0.1:${(impostor.address() as AddressInfo).port}` }),
      clockSkewSeconds: 60,
      clock: createManualClock(new Date()),
      logger: pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) }),
    });
    expect(await outcome(provider, await entra.mint())).toMatch(/^unavailable/);
    expect(logLines.some((l) => l.includes('names another issuer'))).toBe(true);
    expect(entra.jwksHits()).toBe(0);
    impostor.closeAllConnections();
    await new Promise((resolve) => impostor.close(resolve));
    await entra.stop();
  });

  it('trusts a private issuer over https through caFile, for this client only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-oidc-'));
    try {
      const clock = createManualClock(new Date());
      const entra = await startFakeEntra({ https: true, clock });
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, entra.ca as string);
      const logger = pino({ level: 'silent' });
      const trusted = await createOidcIdentity({ settings: settingsFor(entra, { caFile }), clockSkewSeconds: 60, clock, logger });
      expect((await trusted.provider.verify(await entra.mint())).principal.subject).toBe(entra.defaultOid);
      const untrusted = await createOidcIdentity({ settings: settingsFor(entra), clockSkewSeconds: 60, clock, logger });
      expect(await outcome(untrusted.provider, await entra.mint())).toMatch(/^unavailable/);
      await entra.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up on an issuer that does not answer within fetchTimeoutSeconds', async () => {
    const held: http.ServerResponse[] = [];
    const silent = http.createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const started = Date.now();
    const { provider } = await createOidcIdentity({
      settings: settingsFor({ base, tenantId: guid(), audience: guid() }, { fetchTimeoutSeconds: 1 }),
      clockSkewSeconds: 60,
      clock: createManualClock(new Date()),
      logger: pino({ level: 'silent' }),
    });
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(provider.check?.()).rejects.toMatchObject({ code: 'unavailable' });
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });
});

describe('the fake Entra token endpoint (for other suites: Key Vault credentials)', () => {
  it('mints a v1-style app token for the client-credentials grant, and refuses a wrong secret', async () => {
    const entra = await startFakeEntra({ clients: { 'app-1': 's3cret' } });
    const post = (form: Record<string, string>) =>
      fetch(`${entra.base}/${entra.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams(form),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const res = await post({ grant_type: 'client_credentials', client_id: 'app-1', client_secret: 's3cret', scope: 'https://vault.azure.net/.default' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token_type: string; expires_in: number; access_token: string };
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(decodeJwt(body.access_token)).toMatchObject({
      aud: 'https://vault.azure.net',
      iss: `https://sts.windows.net/${entra.tenantId}/`,
      ver: '1.0',
      appid: 'app-1',
      tid: entra.tenantId,
    });
    expect((await post({ grant_type: 'client_credentials', client_id: 'app-1', client_secret: 'nope' })).status).toBe(401);
    expect(entra.tokensIssued()).toBe(1);
    await entra.stop();
  });
});

describe('identity.oidc configuration', () => {
  const oidcEnv = (over: Record<string, string> = {}) => ({
    JITBROKER_IDENTITY_MODE: 'oidc',
    JITBROKER_IDENTITY_OIDC_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    JITBROKER_IDENTITY_OIDC_AUDIENCE: 'c3a5f6b2-0d6e-4a51-9d3e-1f7a2b4c5d6e',
    ...over,
  });
  function errorsOf(env: Record<string, string>): string[] {
    try {
      loadConfig({ env });
    } catch (e) {
      if (e instanceof ConfigError) return [...e.lines];
      throw e;
    }
    throw new Error('expected a ConfigError');
  }

  it('has defaults that need only a tenant and an audience', () => {
    const c = loadConfig({ env: oidcEnv() });
    expect(c.identity.mode).toBe('oidc');
    expect(c.identity.oidc).toEqual({
      authority: 'https://login.microsoftonline.com',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      audience: 'c3a5f6b2-0d6e-4a51-9d3e-1f7a2b4c5d6e',
      allowedTenants: [],
      roleMap: {},
      jwksCacheMaxAge: 'PT1H',
      jwksCooldown: 'PT30S',
      lastGoodKeysFor: 'PT24H',
      fetchTimeoutSeconds: 5,
    });
    // local mode does not need them
    expect(loadConfig({ env: {} }).identity.mode).toBe('local');
  });

  it('names the missing tenant and audience in oidc mode', () => {
    const lines = errorsOf({ JITBROKER_IDENTITY_MODE: 'oidc' });
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config identity\.oidc\.tenantId: .*required with identity\.mode oidc/),
        expect.stringMatching(/^config identity\.oidc\.audience: .*required/),
      ]),
    );
  });

  it.each([
    [
      'JITBROKER_IDENTITY_OIDC_AUTHORITY',
      'http://login.example.com',
      /identity\.oidc\.authority \(from JITBROKER_IDENTITY_OIDC_AUTHORITY\): "http:\/\/login\.example\.com": must be https:\/\/ \(http:\/\/ only for a loopback host\)/,
    ],
    ['JITBROKER_IDENTITY_OIDC_AUTHORITY', 'login.microsoftonline.com', /identity\.oidc\.authority .*not an absolute URL/],
    ['JITBROKER_IDENTITY_OIDC_TENANT_ID', 'contoso.onmicrosoft.com', /identity\.oidc\.tenantId .*not a tenant id; accepted: the directory \(tenant\) id, a GUID/],
    ['JITBROKER_IDENTITY_OIDC_ALLOWED_TENANTS', 'common', /identity\.oidc\.allowedTenants\.0 .*not a tenant id/],
    ['JITBROKER_IDENTITY_OIDC_REVEAL_AUTH_CONTEXT', 'mfa', /identity\.oidc\.revealAuthContext .*accepted: c1 to c99/],
    ['JITBROKER_IDENTITY_OIDC_ROLE_MAP', '{"Broker.Admin":"root"}', /identity\.oidc\.roleMap\.Broker\.Admin .*'requester' \| 'approver' \| 'admin' \| 'auditor'/],
    ['JITBROKER_IDENTITY_OIDC_JWKS_COOLDOWN', '30s', /identity\.oidc\.jwksCooldown .*ISO 8601/],
    ['JITBROKER_IDENTITY_OIDC_LAST_GOOD_KEYS_FOR', 'PT10M', /identity\.oidc\.lastGoodKeysFor .*shorter than jwksCacheMaxAge/],
    ['JITBROKER_IDENTITY_OIDC_FETCH_TIMEOUT_SECONDS', '0', /identity\.oidc\.fetchTimeoutSeconds/],
    ['JITBROKER_IDENTITY_MODE', 'saml', /identity\.mode .*local \| oidc/],
  ])('refuses %s=%s with a line naming the key', (name, value, line) => {
    const lines = errorsOf(oidcEnv({ [name]: value }));
    expect(lines).toEqual([expect.stringMatching(line)]);
  });

  it('accepts http:// only for a loopback issuer, and reads roleMap and allowedTenants from the environment', () => {
    const t2 = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const c = loadConfig({
      env: oidcEnv({
        JITBROKER_IDENTITY_OIDC_AUTHORITY: 'http://127.0.0.1:8123',
        JITBROKER_IDENTITY_OIDC_ROLE_MAP: '{"Broker.Admin":"admin"}',
        JITBROKER_IDENTITY_OIDC_ALLOWED_TENANTS: `72f988bf-86f1-41af-91ab-2d7cd011db47, ${t2}`,
        JITBROKER_IDENTITY_OIDC_REVEAL_AUTH_CONTEXT: 'c1',
      }),
    });
    expect(c.identity.oidc).toMatchObject({
      authority: 'http://127.0.0.1:8123',
      roleMap: { 'Broker.Admin': 'admin' },
      allowedTenants: ['72f988bf-86f1-41af-91ab-2d7cd011db47', t2],
      revealAuthContext: 'c1',
    });
    expect(loadConfig({ env: oidcEnv({ JITBROKER_IDENTITY_OIDC_AUTHORITY: 'http://[::1]:8123' }) }).identity.oidc.authority).toBe('http://[::1]:8123');
  });

  it('refuses to start with an unreadable caFile', () => {
    const c = loadConfig({ env: oidcEnv({ JITBROKER_IDENTITY_OIDC_CA_FILE: '/nonexistent/ca.pem' }) });
    expect(checkStartup(c)).toEqual([expect.stringMatching(/^identity\.oidc\.caFile \/nonexistent\/ca\.pem: cannot be read \(ENOENT\)/)]);
  });

  it('jitbroker token fails clearly in oidc mode', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-oidc-cli-'));
    try {
      const file = path.join(dir, 'config.json');
      const env = oidcEnv();
      fs.writeFileSync(
        file,
        JSON.stringify({ dataDir: dir, identity: { mode: 'oidc', oidc: { tenantId: env.JITBROKER_IDENTITY_OIDC_TENANT_ID, audience: env.JITBROKER_IDENTITY_OIDC_AUDIENCE } } }),
      );
      const cmd = tokenCommand().exitOverride();
      await expect(cmd.parseAsync(['--sub', 'alice', '--roles', 'requester', '--config', file], { from: 'user' })).rejects.toThrow(
        /identity\.mode is oidc: tokens come from your identity provider, not from jitbroker token/,
      );
      expect(fs.existsSync(path.join(dir, 'identity-key.json'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
