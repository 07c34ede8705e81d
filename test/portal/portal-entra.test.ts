import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Response } from 'supertest';
import { bearer } from '../support/bearer';
import { seedLaptop7 } from '../support/scenario';
import { sessionCookieName, setCookieOf, signInCookieName } from '../support/http-cookies';
import { expectAudited } from '../support/expect-audited';
import { FakeEntra, start as startFakeEntra, submitLoginForm } from '../support/fake-entra';
import { TestApp, createTestApp } from '../support/test-app';

/**
 * The portal's Entra sign-in over HTTP, identity.mode oidc, against a local Entra-shaped authority
 * with a login form: /auth/sign-in → Entra's authorize page → the login form → /auth/callback →
 * a session cookie that works on /v1, with the state bound to the browser, single use, and the
 * step-up round trip for a reveal.
 */

const origin = 'http://127.0.0.1:7800';
const redirectUri = `${origin}/auth/callback`;
const clientId = '6f1c2a3b-0000-4000-8000-00000000c1d2';
const secretVariable = 'JITBROKER_TEST_PORTAL_SECRET';
const alice = { oid: crypto.randomUUID(), name: 'Alice Example', roles: ['requester'], groups: ['helpdesk'] };
const admin = { oid: crypto.randomUUID(), name: 'Ada Admin', roles: ['admin'] };
const sessionCookie = sessionCookieName;
const bindingCookie = signInCookieName;

describe('the portal’s Entra sign-in over HTTP (identity.mode oidc)', () => {
  let entra: FakeEntra;
  let h: TestApp;
  let caDir: string;
  beforeAll(async () => {
    const app: { h?: TestApp } = {};
    // MSAL speaks to an https authority only: the fake serves TLS with a certificate the daemon is told to trust.
    entra = await startFakeEntra({
      https: true,
      clock: { now: () => app.h?.clock.now() ?? new Date() },
      clients: { [clientId]: 'portal-secret' },
      redirectUris: [redirectUri],
      users: { 'alice@contoso.example': { password: 'pw-alice', claims: alice } },
    });
    process.env[secretVariable] = 'portal-secret';
    caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-entra-ca-'));
    fs.writeFileSync(path.join(caDir, 'ca.pem'), entra.ca as string);
    h = app.h = await createTestApp({
      JITBROKER_IDENTITY_MODE: 'oidc',
      JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
      JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
      JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
      JITBROKER_IDENTITY_OIDC_REVEAL_AUTH_CONTEXT: 'c1',
      JITBROKER_IDENTITY_OIDC_CA_FILE: path.join(caDir, 'ca.pem'),
      JITBROKER_PORTAL_PUBLIC_ORIGIN: origin,
      JITBROKER_PORTAL_ENTRA_CLIENT_ID: clientId,
      JITBROKER_PORTAL_ENTRA_CLIENT_SECRET_ENV: secretVariable,
    });
    // laptop-7 with an acknowledged password, and a policy designating the helpdesk group.
    const adminToken = await entra.mint(admin);
    await seedLaptop7(h, adminToken, 'helpdesk');
  });
  afterAll(async () => {
    delete process.env[secretVariable];
    await h.close();
    await entra.stop();
    fs.rmSync(caDir, { recursive: true, force: true });
  });

  /** /auth/sign-in: the redirect to Entra, and the binding cookie's value (the state). */
  async function begin(query: Record<string, string> = {}, cookie?: string): Promise<{ url: string; state: string; res: Response }> {
    let req = h.api.get('/auth/sign-in').query(query);
    if (cookie) req = req.set('Cookie', cookie);
    const res = await req;
    expect(res.status).toBe(302);
    return { url: res.headers.location as string, state: setCookieOf(res, bindingCookie)?.value as string, res };
  }

  /** Entra's redirect back to the daemon, as the browser sends it: the query Entra put there, and the binding cookie. */
  async function callback(back: URL, binding: string | undefined): Promise<Response> {
    let req = h.api.get(`/auth/callback${back.search}`);
    if (binding !== undefined) req = req.set('Cookie', `${bindingCookie}=${binding}`);
    return req;
  }

  async function signIn(query: Record<string, string> = {}, cookie?: string): Promise<{ cookie: string; csrfToken: string; res: Response }> {
    const { url, state } = await begin(query, cookie);
    const res = await callback(await submitLoginForm(url, entra.ca as string), state);
    expect([res.status, res.headers.location]).toEqual([303, query.returnTo ?? '/']);
    const session = `${sessionCookie}=${setCookieOf(res, sessionCookie)?.value}`;
    const view = await h.api.get('/auth/session').set('Cookie', session);
    return { cookie: session, csrfToken: (view.body as { csrfToken: string }).csrfToken, res };
  }

  const fromPortal = (req: import('supertest').Test, s: { cookie: string; csrfToken: string }) =>
    req.set('Cookie', s.cookie).set('Origin', origin).set('X-CSRF-Token', s.csrfToken);

  it('signs in through Entra: PKCE to the authorize page, a binding cookie, the callback sets the session cookie, and the session works on /v1', async () => {
    const { url, state, res } = await begin({ returnTo: '/grants' });
    const asked = new URL(url);
    expect(`${asked.origin}${asked.pathname}`).toBe(`${entra.base}/${entra.tenantId}/oauth2/v2.0/authorize`);
    expect(Object.fromEntries(asked.searchParams)).toMatchObject({ client_id: clientId, redirect_uri: redirectUri, code_challenge_method: 'S256', state, response_type: 'code' });
    expect(res.headers['cache-control']).toBe('no-store');
    // Lax: the callback is Entra's cross-site redirect, which a Strict cookie would not come back on.
    expect(setCookieOf(res, bindingCookie)?.header).toMatch(/^__Host-jitbroker-sign-in=[A-Za-z0-9_-]{32}; Max-Age=600; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/);
    // Only the state's hash is stored: the state in a copy of the store finishes nobody's sign-in.
    expect(JSON.stringify(await h.db.selectFrom('portal_sign_ins').selectAll().execute())).not.toContain(state);

    const back = await submitLoginForm(url, entra.ca as string);
    const done = await callback(back, state);
    expect([done.status, done.headers.location, done.headers['cache-control']]).toEqual([303, '/grants', 'no-store']);
    expect(setCookieOf(done, sessionCookie)?.header).toMatch(/^__Host-jitbroker-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(setCookieOf(done, bindingCookie)?.header).toMatch(/^__Host-jitbroker-sign-in=; Path=\/; Expires=Thu, 01 Jan 1970/);
    await expectAudited(h, done, { action: 'portal.signed-in', actor: { kind: 'user', subject: alice.oid, name: alice.name, tenant: entra.tenantId } });
    // Tokens stay in the daemon: nothing the browser is sent holds one.
    expect(JSON.stringify(done.headers)).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);

    const session = `${sessionCookie}=${setCookieOf(done, sessionCookie)?.value}`;
    const view = await h.api.get('/auth/session').set('Cookie', session);
    expect(view.body).toMatchObject({ signedIn: true, identityMode: 'oidc', principal: { subject: alice.oid, name: alice.name, roles: ['requester'], groups: ['helpdesk'] } });
    const grant = await fromPortal(h.api.post('/v1/grants'), { cookie: session, csrfToken: view.body.csrfToken }).send({
      deviceId: 'laptop-7',
      reason: 'printer',
      duration: 'PT1H',
    });
    expect([grant.status, grant.body.requester]).toEqual([201, alice.oid]);
    await fromPortal(h.api.post(`/v1/grants/${grant.body.id}/revoke`), { cookie: session, csrfToken: view.body.csrfToken })
      .send({})
      .expect(200);
  });

  it('refuses a callback whose state is not the binding cookie’s, a state used twice, no binding cookie, an Entra error and an expired sign-in: 303 to a fixed word, audited', async () => {
    const failure = (res: Response) => [res.status, res.headers.location, setCookieOf(res, sessionCookie)];
    // Another sign-in's callback in this browser (login CSRF: an attacker's code and state planted here).
    const mine = await begin();
    const theirs = await begin();
    const planted = await callback(await submitLoginForm(theirs.url, entra.ca as string), mine.state);
    expect(failure(planted)).toEqual([303, '/signed-out?error=sign-in-failed', undefined]);
    await expectAudited(h, planted, { action: 'auth.failed', outcome: 'denied', actor: { kind: 'anonymous' }, details: { credential: 'portal', failure: 'sign-in-failed' } });

    const fresh = await begin();
    const back = await submitLoginForm(fresh.url, entra.ca as string);
    expect((await callback(back, fresh.state)).status).toBe(303);
    const replay = await callback(back, fresh.state);
    expect(failure(replay)).toEqual([303, '/signed-out?error=sign-in-expired', undefined]);
    await expectAudited(h, replay, { action: 'auth.failed', reason: expect.stringMatching(/unknown or was already finished/) });

    const other = await begin();
    expect(failure(await callback(await submitLoginForm(other.url, entra.ca as string), undefined))).toEqual([303, '/signed-out?error=sign-in-expired', undefined]);

    const denied = await begin();
    const said = await callback(
      new URL(`${redirectUri}?error=access_denied&error_description=${encodeURIComponent('AADSTS65004: <b>declined</b>')}&state=${denied.state}`),
      denied.state,
    );
    expect(failure(said)).toEqual([303, '/signed-out?error=access-denied', undefined]);
    expect(JSON.stringify(await h.eventsOf(said))).not.toContain('AADSTS65004');

    const slow = await begin();
    const slowBack = await submitLoginForm(slow.url, entra.ca as string);
    h.clock.advance(11 * 60 * 1000);
    expect(failure(await callback(slowBack, slow.state))).toEqual([303, '/signed-out?error=sign-in-expired', undefined]);
  });

  it('the step-up round trip: a reveal asks for authentication context c1, the sign-in asks Entra for it, and the reveal then passes with the new cookie until that token expires', async () => {
    const first = await signIn();
    const grant = await fromPortal(h.api.post('/v1/grants'), first).send({ deviceId: 'laptop-7', reason: 'printer', duration: 'PT4H' });
    expect(grant.status).toBe(201);
    const reveal = (s: { cookie: string; csrfToken: string }) => fromPortal(h.api.get(`/v1/grants/${grant.body.id}/password`), s);
    const refused = await reveal(first);
    expect([refused.status, refused.body.code]).toEqual([401, 'unauthenticated']);
    expect(refused.headers['www-authenticate']).toMatch(/insufficient_claims/);

    // The portal sends the browser to sign in again with the context; Entra's redirect back carries no Strict cookie.
    const returnTo = `/grants/${grant.body.id}`;
    const { url, state } = await begin({ authContext: 'c1', returnTo }, first.cookie);
    expect(JSON.parse(new URL(url).searchParams.get('claims') as string)).toMatchObject({ access_token: { acrs: { essential: true, value: 'c1' } } });
    const done = await callback(await submitLoginForm(url, entra.ca as string), state);
    expect([done.status, done.headers.location]).toEqual([303, returnTo]);
    await expectAudited(h, done, [
      { action: 'portal.signed-out', actor: { subject: alice.oid }, details: { reason: 'replaced' } },
      { action: 'portal.signed-in', actor: { subject: alice.oid } },
    ]);
    const steppedCookie = `${sessionCookie}=${setCookieOf(done, sessionCookie)?.value}`;
    const stepped = { cookie: steppedCookie, csrfToken: ((await h.api.get('/auth/session').set('Cookie', steppedCookie)).body as { csrfToken: string }).csrfToken };
    const shown = await reveal(stepped);
    expect(shown.status).toBe(200);
    expect(shown.headers['cache-control']).toBe('no-store');
    expect((await reveal(first)).status).toBe(401);

    // The session outlives the access token (idle 30 min, kept busy); the step-up does not.
    for (let i = 0; i < 3; i++) {
      h.clock.advance(20 * 60 * 1000);
      expect((await h.api.get('/auth/session').set('Cookie', stepped.cookie)).body.signedIn).toBe(true);
    }
    h.clock.advance(60 * 1000);
    const again = await reveal(stepped);
    expect([again.status, again.headers['www-authenticate']]).toEqual([401, expect.stringMatching(/insufficient_claims/)]);
  });

  it('has no development sign-in in oidc mode (404), and answers the signed-out shape with its mode', async () => {
    const res = await h.api
      .post('/auth/dev-session')
      .set('Origin', origin)
      .send({ subject: 'mallory', roles: ['admin'], groups: [] });
    expect([res.status, res.body.code, res.headers['set-cookie']]).toEqual([404, 'not-found', undefined]);
    expect((await h.api.get('/auth/session')).body).toEqual({ signedIn: false, identityMode: 'oidc', signInPath: '/auth/sign-in' });
  });

  it('forgets pending sign-ins abandoned at the login page on the scheduler’s prune', async () => {
    await begin();
    expect((await h.db.selectFrom('portal_sign_ins').selectAll().execute()).length).toBeGreaterThan(0);
    h.clock.advance(11 * 60 * 1000);
    await h.signIn.prune();
    expect(await h.db.selectFrom('portal_sign_ins').selectAll().execute()).toEqual([]);
  });
});

describe('the portal’s Entra sign-in, not configured', () => {
  it('starts (bearer tokens still work) and answers /auth/sign-in with a problem naming what is missing', async () => {
    const entra = await startFakeEntra();
    const h = await createTestApp({
      JITBROKER_IDENTITY_MODE: 'oidc',
      JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
      JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
      JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
      JITBROKER_PORTAL_ENTRA_CLIENT_SECRET_ENV: 'JITBROKER_TEST_UNSET_SECRET',
    });
    try {
      const res = await h.api.get('/auth/sign-in');
      expect([res.status, res.body.code]).toEqual([503, 'unavailable']);
      expect(res.body.detail).toMatch(/portal\.entra\.clientId.*portal\.publicOrigin.*JITBROKER_TEST_UNSET_SECRET/);
      expect(await h.db.selectFrom('portal_sign_ins').selectAll().execute()).toEqual([]);
      expect((await h.api.get('/v1/grants').set(bearer(await entra.mint({ roles: ['requester'] })))).status).toBe(200);
    } finally {
      await h.close();
      await entra.stop();
    }
  });
});
