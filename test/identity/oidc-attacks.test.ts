import crypto from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { TestApp, createTestApp } from '../support/test-app';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';
import { bearer } from '../support/bearer';

/**
 * identity.mode oidc through the real HTTP app, against a local Entra-shaped issuer: a full grant
 * flow with Entra tokens, step-up for reveal, and the attack suite (each forged or unfit token is
 * answered 401 with a problem document, audited as auth.failed, and changes nothing else).
 */

const roleMap = { 'Broker.Admin': 'admin', 'Support.Elevate': 'requester', 'Broker.Audit': 'auditor' };
const helpdesk = crypto.randomUUID();
const alice = { oid: crypto.randomUUID(), name: 'Alice Example', preferred_username: 'alice@contoso.example' };
const admin = { oid: crypto.randomUUID(), name: 'Ada Admin' };
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

interface World {
  h: TestApp;
  entra: FakeEntra;
  /** A user token for the app's clock (tokens are minted at h.clock.now()). */
  adminToken(): Promise<string>;
  aliceToken(claims?: Record<string, unknown>): Promise<string>;
}

async function createWorld(opts: { issuerDown?: boolean; env?: Record<string, string> } = {}): Promise<World> {
  // Tokens are minted on the app's manual clock, once there is an app.
  const app: { h?: TestApp } = {};
  const entra = await startFakeEntra({ clock: { now: () => app.h?.clock.now() ?? new Date() } });
  if (opts.issuerDown) await entra.stop();
  const h = (app.h = await createTestApp({
    JITBROKER_IDENTITY_MODE: 'oidc',
    JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
    JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
    JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
    JITBROKER_IDENTITY_OIDC_ROLE_MAP: JSON.stringify(roleMap),
    JITBROKER_IDENTITY_OIDC_REVEAL_AUTH_CONTEXT: 'c1',
    JITBROKER_IDENTITY_OIDC_JWKS_CACHE_MAX_AGE: 'PT1H',
    JITBROKER_IDENTITY_OIDC_JWKS_COOLDOWN: 'PT0.2S',
    JITBROKER_IDENTITY_OIDC_LAST_GOOD_KEYS_FOR: 'PT24H',
    ...opts.env,
  }));
  return {
    h,
    entra,
    adminToken: () => entra.mint({ ...admin, roles: ['Broker.Admin'] }),
    aliceToken: (claims = {}) => entra.mint({ ...alice, roles: ['Support.Elevate'], groups: [helpdesk], acrs: ['c1'], ...claims }),
  };
}

async function close(w: World): Promise<void> {
  await w.h.close();
  await w.entra.stop();
}

/** laptop-7 with an acknowledged password, and a policy designating the helpdesk group (a GUID, as Entra sends groups). */
async function enrol(w: World): Promise<string> {
  const key = await w.h.deviceKey();
  const res = await w.h.api
    .post('/v1/devices')
    .set(bearer(await w.adminToken()))
    .send({ id: 'laptop-7', groups: ['finance-laptops'], agentKey: key.publicJwk });
  expect(res.status).toBe(201);
  const { password } = await w.h.ackPending('laptop-7', key);
  const policy = await w.h.api
    .post('/v1/policies')
    .set(bearer(await w.adminToken()))
    .send({ name: 'helpdesk-finance', principals: { groups: [helpdesk] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H' });
  expect(policy.status).toBe(201);
  return password;
}

async function requestGrant(w: World): Promise<string> {
  const res = await w.h.api
    .post('/v1/grants')
    .set(bearer(await w.aliceToken()))
    .send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H' });
  expect(res.status).toBe(201);
  return (res.body as { id: string }).id;
}

describe('identity.mode oidc over HTTP: grant flow, roles, step-up', () => {
  let w: World;
  let password: string;
  beforeAll(async () => {
    w = await createWorld();
    password = await enrol(w);
  });
  afterAll(async () => {
    await close(w);
  });

  it('requests a grant and reveals the password with Entra tokens; the audit names the oid, with the display name', async () => {
    const id = await requestGrant(w);
    const res = await w.h.api.get(`/v1/grants/${id}/password`).set(bearer(await w.aliceToken()));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ deviceId: 'laptop-7', password });
    const grant = await w.h.api.get(`/v1/grants/${id}`).set(bearer(await w.aliceToken()));
    expect(grant.body.requester).toBe(alice.oid);
    const events = await w.h.audit.query({ action: 'grant.password-revealed', limit: 10 });
    expect(events.items.map((e) => [e.outcome, e.actor])).toEqual([['success', { kind: 'user', subject: alice.oid, name: alice.name, tenant: w.entra.tenantId }]]);
    await w.h.api
      .post(`/v1/grants/${id}/revoke`)
      .set(bearer(await w.aliceToken()))
      .send({})
      .expect(200);
  });

  it('maps app roles through roleMap: a mapped value grants the role, a raw role name does not', async () => {
    expect((await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()))).status).toBe(200);
    const raw = await w.entra.mint({ roles: ['admin'] });
    const res = await w.h.api.get('/v1/devices').set(bearer(raw));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
    const auditor = await w.entra.mint({ roles: ['Broker.Audit'] });
    expect((await w.h.api.get('/v1/audit/verify').set(bearer(auditor))).status).toBe(200);
  });

  it('answers a groups-overage token with 403 saying that app roles or group filtering must be configured, audited', async () => {
    const before = (await w.h.audit.head()).seq;
    const token = await w.aliceToken({
      groups: undefined,
      _claim_names: { groups: 'src1' },
      _claim_sources: { src1: { endpoint: 'https://graph.windows.net/x/getMemberObjects' } },
    });
    const res = await w.h.api.post('/v1/grants').set(bearer(token)).send({ deviceId: 'laptop-7', reason: 'r', duration: 'PT1H' });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('forbidden');
    expect(res.body.detail).toMatch(/groups overage/);
    expect(res.body.detail).toMatch(/app roles/);
    const added = (await w.h.audit.query({ afterSeq: before, limit: 10 })).items;
    expect(added.map((e) => `${e.action}/${e.outcome}/${e.actor.kind}`)).toEqual(['auth.failed/denied/anonymous']);
  });

  it('steps up for reveal: without acrs c1 a 401 with the claims challenge (audited, nothing revealed); with it, 200', async () => {
    const id = await requestGrant(w);
    const before = (await w.h.audit.head()).seq;
    const res = await w.h.api.get(`/v1/grants/${id}/password`).set(bearer(await w.aliceToken({ acrs: undefined })));
    expect(res.status).toBe(401);
    const claims = Buffer.from('{"access_token":{"acrs":{"essential":true,"value":"c1"}}}').toString('base64');
    expect(res.headers['www-authenticate']).toBe(`Bearer error="insufficient_claims", claims="${claims}"`);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'unauthenticated', status: 401 });
    expect(res.body.detail).toMatch(/authentication context 'c1'/);
    expect(res.text).not.toContain(password);
    const added = (await w.h.audit.query({ afterSeq: before, limit: 10 })).items;
    expect(added.map((e) => `${e.action}/${e.outcome}`)).toEqual(['grant.password-revealed/denied']);
    expect(added[0]?.reason).toMatch(/authentication context 'c1'/);
    // another context does not do either
    expect((await w.h.api.get(`/v1/grants/${id}/password`).set(bearer(await w.aliceToken({ acrs: ['c2'] })))).status).toBe(401);
    const ok = await w.h.api.get(`/v1/grants/${id}/password`).set(bearer(await w.aliceToken({ acrs: ['c2', 'c1'] })));
    expect(ok.status).toBe(200);
    expect(ok.body.password).toBe(password);
    await w.h.api
      .post(`/v1/grants/${id}/revoke`)
      .set(bearer(await w.aliceToken()))
      .send({})
      .expect(200);
  });

  it('refuses jitbroker token-style local tokens in oidc mode', async () => {
    await expect(w.h.token('alice', ['requester'])).rejects.toThrow(/identity\.mode is oidc/);
  });
});

describe('identity.mode oidc over HTTP: the attack suite (401, audited as auth.failed, nothing changed)', () => {
  let w: World;
  let other: FakeEntra;
  let grantId: string;
  let password: string;
  beforeAll(async () => {
    w = await createWorld();
    password = await enrol(w);
    grantId = await requestGrant(w);
    // Another issuer whose key goes by the same kid.
    other = await startFakeEntra({ kid: w.entra.currentKid(), clock: { now: () => w.h.clock.now() } });
  });
  afterAll(async () => {
    await other.stop();
    await close(w);
  });

  const now = () => Math.floor(w.h.clock.now().getTime() / 1000);
  /** A valid token's payload, as claims to sign some other way. */
  const validClaims = async () => decodeJwt(await w.aliceToken());

  const attacks: Array<[string, () => Promise<string>, RegExp]> = [
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(await validClaims())}.`, /algorithm is not allowed/],
    [
      'HS256 keyed with the public key bytes',
      async () => new SignJWT(await validClaims()).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: w.entra.currentKid() }).sign(Buffer.from(await w.entra.publicPem())),
      /algorithm is not allowed/,
    ],
    ['an expired token', () => w.aliceToken({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 }), /has expired/],
    ['a token not valid for another 10 minutes', () => w.aliceToken({ nbf: now() + 600 }), /nbf claim/],
    ['the wrong audience', () => w.aliceToken({ aud: crypto.randomUUID() }), /aud claim/],
    ['the wrong issuer', () => w.aliceToken({ iss: `https://login.example.net/${w.entra.tenantId}/v2.0` }), /iss claim/],
    [
      'a tenant that is not allowed (its own issuer)',
      async () => {
        const tid = crypto.randomUUID();
        return w.aliceToken({ tid, iss: `${w.entra.base}/${tid}/v2.0` });
      },
      /iss claim/,
    ],
    // (with two allowed tenants, the same swap is refused as iss not naming tid's tenant: oidc-identity.test.ts)
    ['a tid that is not the tenant in iss', () => w.aliceToken({ tid: crypto.randomUUID() }), /tenant is not allowed/],
    ['an unknown kid', async () => w.entra.mint({ ...alice, roles: ['Support.Elevate'], groups: [helpdesk], acrs: ['c1'] }, { kid: 'kid-unpublished' }), /does not publish/],
    [
      'a tampered payload',
      async () => {
        const [header, , signature] = (await w.aliceToken()).split('.');
        return `${header}.${b64({ ...(await validClaims()), roles: ['Broker.Admin'] })}.${signature}`;
      },
      /signature does not verify/,
    ],
    ['no exp', () => w.aliceToken({ exp: undefined }), /exp claim/],
    [
      "another issuer's key under the same kid",
      () => other.mint({ ...alice, iss: w.entra.issuer, tid: w.entra.tenantId, aud: w.entra.audience, roles: ['Support.Elevate'], groups: [helpdesk], acrs: ['c1'] }),
      /signature does not verify/,
    ],
    ['a v1.0 token', () => w.aliceToken({ ver: '1.0' }), /ver claim is not 2.0/],
    ['no kid in the header', () => w.entra.mint({ ...alice, roles: ['Support.Elevate'] }, { header: { kid: undefined } }), /names no signing key/],
    [
      'a 12 KB forged token',
      () => other.mint({ ...alice, iss: w.entra.issuer, aud: w.entra.audience, tid: w.entra.tenantId, padding: 'x'.repeat(9000) }),
      /signature does not verify/,
    ],
  ];

  it.each(attacks)('%s', async (_name, forge, reason) => {
    const token = await forge();
    const before = await w.h.snapshot();
    const hitsBefore = w.entra.jwksHits();
    const res = await w.h.api.get(`/v1/grants/${grantId}/password`).set(bearer(token));
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'unauthenticated', status: 401, type: 'https://jitbroker.dev/problems/unauthenticated' });
    expect(res.body.detail).toMatch(reason);
    expect(res.text).not.toContain(password);
    const after = await w.h.snapshot();
    const { audit_events: a1, ...rest1 } = before;
    const { audit_events: a2, ...rest2 } = after;
    expect(rest2).toEqual(rest1);
    expect(Number(a2) - Number(a1)).toBe(1);
    const [event, ...more] = (await w.h.audit.query({ afterSeq: Number(a1), limit: 10 })).items;
    expect(more).toEqual([]);
    expect(event).toMatchObject({ action: 'auth.failed', outcome: 'denied', actor: { kind: 'anonymous', subject: 'anonymous' }, target: `GET /v1/grants/${grantId}/password` });
    expect(event?.reason).toMatch(reason);
    expect(event?.context?.requestId).toBe(res.headers['x-request-id']);
    // Never the token, nor any claim of a token that did not verify.
    const stored = JSON.stringify(event);
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(stored).not.toContain(part);
    expect(stored).not.toContain(alice.oid);
    expect(stored).not.toContain(alice.name);
    // An unknown kid may cost one refetch at most; nothing else reaches the issuer.
    expect(w.entra.jwksHits() - hitsBefore).toBeLessThanOrEqual(1);
  });

  it('a 20 KB token never reaches the app: Node answers 431 before any handler, so nothing is audited or changed', async () => {
    const token = await w.aliceToken({ padding: 'x'.repeat(20 * 1024) });
    expect(token.length).toBeGreaterThan(20 * 1024);
    const before = await w.h.snapshot();
    const res = await w.h.api.get(`/v1/grants/${grantId}/password`).set(bearer(token));
    expect(res.status).toBe(431);
    expect(res.text).not.toContain(password);
    expect(await w.h.snapshot()).toEqual(before);
  });

  it('the grant was never revealed by any of them', async () => {
    const reveals = await w.h.audit.query({ action: 'grant.password-revealed', limit: 50 });
    expect(reveals.items).toEqual([]);
    const res = await w.h.api.get(`/v1/grants/${grantId}/password`).set(bearer(await w.aliceToken()));
    expect(res.status).toBe(200);
  });
});

describe('identity.mode oidc over HTTP: key rollover and issuer outages', () => {
  it('rejects a new kid before the JWKS has it without hammering the issuer, and accepts it after rotate + cooldown', async () => {
    const w = await createWorld();
    try {
      const token = await w.entra.mint({ ...admin, roles: ['Broker.Admin'] }, { kid: 'kid-2' });
      const hits = w.entra.jwksHits();
      for (let i = 0; i < 10; i++) expect((await w.h.api.get('/v1/devices').set(bearer(token))).status).toBe(401);
      w.h.clock.advance(200);
      for (let i = 0; i < 10; i++) expect((await w.h.api.get('/v1/devices').set(bearer(token))).status).toBe(401);
      expect(w.entra.jwksHits() - hits).toBeLessThanOrEqual(1);
      await w.entra.rotate('kid-2');
      w.h.clock.advance(200);
      expect((await w.h.api.get('/v1/devices').set(bearer(token))).status).toBe(200);
      expect(w.entra.jwksHits() - hits).toBeLessThanOrEqual(2);
    } finally {
      await close(w);
    }
  });

  it('keeps verifying with the last good keys through an outage, then 503 unavailable past lastGoodKeysFor; /readyz follows', async () => {
    const w = await createWorld();
    try {
      expect((await w.h.api.get('/readyz')).status).toBe(200);
      await w.entra.stop();
      w.h.clock.advance(60 * 60 * 1000 + 1000);
      expect((await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()))).status).toBe(200);
      expect((await w.h.api.get('/readyz')).status).toBe(200);
      w.h.clock.advance(23 * 60 * 60 * 1000);
      const before = (await w.h.audit.head()).seq;
      const res = await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()));
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('unavailable');
      expect(res.body.detail).toMatch(/identity provider/);
      // Not a refused credential: nothing audited as one.
      expect((await w.h.audit.query({ afterSeq: before, limit: 10 })).items).toEqual([]);
      const ready = await w.h.api.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toMatch(/identity provider/);
      await w.entra.restart();
      w.h.clock.advance(200);
      expect((await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()))).status).toBe(200);
      expect((await w.h.api.get('/readyz')).status).toBe(200);
    } finally {
      await close(w);
    }
  });

  it('starts while the issuer is down, answers 503 (not 401) until it has keys, then works', async () => {
    const w = await createWorld({ issuerDown: true });
    try {
      expect(w.h.logLines.some((l) => l.includes('identity provider unreachable at start-up'))).toBe(true);
      const res = await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()));
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('unavailable');
      expect((await w.h.api.get('/readyz')).status).toBe(503);
      await w.entra.restart();
      w.h.clock.advance(200);
      expect((await w.h.api.get('/v1/devices').set(bearer(await w.adminToken()))).status).toBe(200);
      expect((await w.h.api.get('/readyz')).status).toBe(200);
    } finally {
      await close(w);
    }
  });
});
