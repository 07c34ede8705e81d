import { Response } from 'supertest';
import { bearer } from '../support/bearer';
import { sessionCookieName, setCookieOf } from '../support/http-cookies';
import { expectAudited } from '../support/expect-audited';
import { Scenario, createScenario } from '../support/scenario';

/**
 * The portal's sign-in and sessions over HTTP, identity.mode local (the development sign-in): the
 * session cookie as a credential of the /v1 API, with its CSRF defences, and signing out.
 */

// The portal as the browser reaches it: requests are sent to this host, and its pages send this Origin.
const host = 'portal.test';
const portal = { host, origin: `http://${host}` };

/** A snapshot but for the audit log, which gains the refusals' events. */
function withoutAudit(snapshot: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(snapshot).filter(([table]) => table !== 'audit_events'));
}

interface Signed {
  cookie: string;
  csrfToken: string;
  res: Response;
}

describe('portal sessions over HTTP (identity.mode local)', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario();
  });
  afterAll(async () => {
    await s.h.close();
  });

  async function signIn(who: Record<string, unknown> = { subject: 'alice', name: 'Alice', roles: ['requester'], groups: ['helpdesk'] }): Promise<Signed> {
    const res = await s.h.api.post('/auth/dev-session').set('Host', portal.host).set('Origin', portal.origin).send(who);
    expect(res.status).toBe(200);
    const cookie = setCookieOf(res, sessionCookieName);
    return { cookie: `${sessionCookieName}=${cookie?.value}`, csrfToken: (res.body as { csrfToken: string }).csrfToken, res };
  }

  const askGrant = (cookie: string, headers: Record<string, string>) => {
    let req = s.h.api.post('/v1/grants').set('Host', portal.host).set('Cookie', cookie);
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    return req.send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H' });
  };

  it('signs in with exactly the cookie flags of a __Host- session cookie, answers the signed-in shape, and audits the sign-in', async () => {
    const { res, csrfToken } = await signIn();
    const cookie = setCookieOf(res, sessionCookieName);
    // No Domain, no Max-Age or Expires: the server ends the session (idle and absolute timeouts).
    expect(cookie?.header).toMatch(/^__Host-jitbroker-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      signedIn: true,
      identityMode: 'local',
      principal: { subject: 'alice', name: 'Alice', roles: ['requester'], groups: ['helpdesk'] },
      csrfToken,
      expiresAt: new Date(s.h.clock.now().getTime() + 8 * 3600 * 1000).toISOString(),
    });
    expect(csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expectAudited(s.h, res, { action: 'portal.signed-in', outcome: 'success', actor: { kind: 'user', subject: 'alice', name: 'Alice' } });
  });

  it('GET /auth/session: the signed-out shape without a cookie (never 401, nothing audited), the signed-in one with it', async () => {
    const out = await s.h.api.get('/auth/session');
    expect(out.status).toBe(200);
    expect(out.headers['cache-control']).toBe('no-store');
    expect(out.body).toEqual({ signedIn: false, identityMode: 'local', signInPath: '/auth/sign-in' });
    expect(await s.h.eventsOf(out)).toEqual([]);
    const { cookie, csrfToken } = await signIn({ subject: 'bob', roles: ['requester'], groups: ['helpdesk'] });
    const res = await s.h.api.get('/auth/session').set('Cookie', cookie);
    expect(res.body).toEqual({
      signedIn: true,
      identityMode: 'local',
      principal: { subject: 'bob', roles: ['requester'], groups: ['helpdesk'] },
      csrfToken,
      expiresAt: expect.any(String),
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    // A cookie that signs nobody in is answered as signed out, and cleared.
    const stale = await s.h.api.get('/auth/session').set('Cookie', `${sessionCookieName}=${'x'.repeat(43)}`);
    expect(stale.body).toMatchObject({ signedIn: false });
    expect(setCookieOf(stale, sessionCookieName)?.header).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(await s.h.eventsOf(stale)).toEqual([]);
  });

  it('refuses a cookie-authenticated POST without Origin, from another origin, without or with a wrong X-CSRF-Token: 403, audited, nothing changed', async () => {
    const { cookie, csrfToken } = await signIn();
    const other = await signIn({ subject: 'bob', roles: ['requester'], groups: ['helpdesk'] });
    const before = await s.h.snapshot();
    const attempts: Array<[string, Record<string, string>]> = [
      ['no Origin', { 'X-CSRF-Token': csrfToken }],
      ['a foreign Origin', { Origin: 'https://evil.example', 'X-CSRF-Token': csrfToken }],
      ['the origin with another port', { Origin: `${portal.origin}:8443`, 'X-CSRF-Token': csrfToken }],
      ['no CSRF token', { Origin: portal.origin }],
      ["another session's CSRF token", { Origin: portal.origin, 'X-CSRF-Token': other.csrfToken }],
      ['an empty CSRF token', { Origin: portal.origin, 'X-CSRF-Token': '' }],
    ];
    for (const [what, headers] of attempts) {
      const res = await askGrant(cookie, headers);
      expect([what, res.status, res.body.code, res.headers['content-type']]).toEqual([what, 403, 'forbidden', expect.stringMatching(/^application\/problem\+json/)]);
      expect(res.body.detail).toMatch(/Origin|X-CSRF-Token/);
      await expectAudited(s.h, res, { action: 'auth.failed', outcome: 'denied', actor: { kind: 'anonymous' }, target: 'POST /v1/grants', details: { credential: 'session' } });
    }
    expect(withoutAudit(await s.h.snapshot())).toEqual(withoutAudit(before));
  });

  it('accepts a cookie-authenticated POST with the Origin and the CSRF token; the audit actor is the session’s principal; answers are no-store', async () => {
    const { cookie, csrfToken } = await signIn();
    const res = await askGrant(cookie, { Origin: portal.origin, 'X-CSRF-Token': csrfToken, 'X-Forwarded-User': 'mallory' });
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.requester).toBe('alice');
    await expectAudited(s.h, res, [
      { action: 'grant.requested', actor: { kind: 'user', subject: 'alice', name: 'Alice' } },
      { action: 'grant.activated', actor: { kind: 'user', subject: 'alice' } },
    ]);
    // A read needs the token too (a reveal or an export is a GET that writes to the audit log, and a
    // link on a sibling site would send the cookie), but no Origin: browsers send none on a same-origin GET.
    const forged = await s.h.api.get('/v1/grants').set('Cookie', cookie);
    expect([forged.status, forged.body.code]).toEqual([403, 'forbidden']);
    const list = await s.h.api.get('/v1/grants').set('Cookie', cookie).set('X-CSRF-Token', csrfToken);
    expect(list.status).toBe(200);
    expect(list.headers['cache-control']).toBe('no-store');
    await s.h.api
      .post(`/v1/grants/${res.body.id}/revoke`)
      .set('Host', portal.host)
      .set('Cookie', cookie)
      .set('Origin', portal.origin)
      .set('X-CSRF-Token', csrfToken)
      .send({})
      .expect(200);
  });

  it('a bearer token wins over the cookie: its principal, no CSRF check, and a bad one is refused without falling back to the cookie', async () => {
    const { cookie } = await signIn();
    const res = await askGrant(cookie, { authorization: `Bearer ${s.tokens.bob}` });
    expect(res.status).toBe(201);
    expect(res.body.requester).toBe('bob');
    expect(res.headers['cache-control']).toBeUndefined();
    await s.h.api.post(`/v1/grants/${res.body.id}/revoke`).set(bearer(s.tokens.bob)).send({}).expect(200);
    const bad = await s.h.api.get('/v1/grants').set('Cookie', cookie).set('authorization', 'Bearer not.a.token');
    expect(bad.status).toBe(401);
    await expectAudited(s.h, bad, { action: 'auth.failed', details: { credential: 'user' } });
  });

  it('DELETE /auth/session ends the session on the server (needs Origin and CSRF token); the cookie is then refused with 401, audited', async () => {
    const { cookie, csrfToken } = await signIn();
    const refused = await s.h.api.delete('/auth/session').set('Host', portal.host).set('Cookie', cookie).set('Origin', portal.origin);
    expect([refused.status, refused.body.code]).toEqual([403, 'forbidden']);
    const bearerOnly = await s.h.api.delete('/auth/session').set(bearer(s.tokens.alice));
    expect([bearerOnly.status, bearerOnly.body.code]).toEqual([401, 'unauthenticated']);
    const res = await s.h.api.delete('/auth/session').set('Host', portal.host).set('Cookie', cookie).set('Origin', portal.origin).set('X-CSRF-Token', csrfToken);
    expect(res.status).toBe(204);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(setCookieOf(res, sessionCookieName)?.header).toMatch(/^__Host-jitbroker-session=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict$/);
    await expectAudited(s.h, res, { action: 'portal.signed-out', actor: { subject: 'alice' }, details: { reason: 'signed-out' } });
    // The browser may keep the cookie (a copy, the back button): the server no longer honours it.
    const after = await s.h.api.get('/v1/grants').set('Cookie', cookie);
    expect([after.status, after.body.code]).toEqual([401, 'unauthenticated']);
    expect(after.body.detail).toMatch(/session has ended/);
    await expectAudited(s.h, after, { action: 'auth.failed', actor: { kind: 'anonymous' }, details: { credential: 'session' } });
    expect((await s.h.api.get('/auth/session').set('Cookie', cookie)).body).toMatchObject({ signedIn: false });
  });

  it('signing in again in the same browser ends the old session (a new id each time)', async () => {
    const first = await signIn();
    const res = await s.h.api
      .post('/auth/dev-session')
      .set('Host', portal.host)
      .set('Origin', portal.origin)
      .set('Cookie', first.cookie)
      .send({ subject: 'bob', roles: ['requester'], groups: [] });
    expect(res.status).toBe(200);
    expect(setCookieOf(res, sessionCookieName)?.value).not.toBe(first.cookie.split('=')[1]);
    await expectAudited(s.h, res, [
      { action: 'portal.signed-out', actor: { subject: 'alice' }, details: { reason: 'replaced' } },
      { action: 'portal.signed-in', actor: { subject: 'bob' } },
    ]);
    expect((await s.h.api.get('/v1/grants').set('Cookie', first.cookie)).status).toBe(401);
  });

  it('the development sign-in must come from the portal’s origin (login CSRF) and takes the token command’s names only', async () => {
    const before = await s.h.snapshot();
    const who = { subject: 'alice', roles: ['requester'], groups: [] };
    const noOrigin = await s.h.api.post('/auth/dev-session').set('Host', portal.host).send(who);
    expect([noOrigin.status, noOrigin.body.code]).toEqual([403, 'forbidden']);
    const foreign = await s.h.api.post('/auth/dev-session').set('Host', portal.host).set('Origin', 'https://evil.example').send(who);
    expect([foreign.status, foreign.body.code]).toEqual([403, 'forbidden']);
    expect(foreign.headers['set-cookie']).toBeUndefined();
    for (const body of [{ ...who, subject: '  ' }, { ...who, subject: 'x'.repeat(257) }, { ...who, roles: ['root'] }, { ...who, extra: true }, { subject: 'alice' }]) {
      const res = await s.h.api.post('/auth/dev-session').set('Host', portal.host).set('Origin', portal.origin).send(body);
      expect([JSON.stringify(body).slice(0, 60), res.status, res.body.code]).toEqual([JSON.stringify(body).slice(0, 60), 400, 'invalid-request']);
    }
    expect(withoutAudit(await s.h.snapshot())).toEqual(withoutAudit(before));
  });

  it('GET /auth/sign-in sends a browser to the development sign-in page, and refuses a returnTo that leaves the site', async () => {
    const plain = await s.h.api.get('/auth/sign-in');
    expect([plain.status, plain.headers.location, plain.headers['cache-control']]).toEqual([302, '/dev-sign-in?returnTo=%2F', 'no-store']);
    const back = await s.h.api.get('/auth/sign-in').query({ returnTo: '/grants/1?tab=timeline' });
    expect([back.status, back.headers.location]).toEqual([302, '/dev-sign-in?returnTo=%2Fgrants%2F1%3Ftab%3Dtimeline']);
    for (const returnTo of ['//evil.example', '/\\evil.example', 'https://evil.example/', 'evil', '/a//b', '/x\r\nSet-Cookie: a=b', '/\t/evil.example', '']) {
      const res = await s.h.api.get('/auth/sign-in').query({ returnTo });
      expect([returnTo, res.status, res.body.code, res.headers.location, res.headers['cache-control']]).toEqual([returnTo, 400, 'invalid-request', undefined, 'no-store']);
    }
    const odd = await s.h.api.get('/auth/sign-in').query({ authContext: 'c100' });
    expect(odd.status).toBe(400);
  });

  it('answers HEAD and other methods on /auth with 404, and no route starts a sign-in for them', async () => {
    expect((await s.h.api.head('/auth/sign-in')).status).toBe(404);
    expect((await s.h.api.put('/auth/session').send({})).status).toBe(404);
  });

  it('a page polling by itself (X-Portal-Background) does not keep an idle session alive; its end is audited as idle', async () => {
    const { cookie, csrfToken } = await signIn({ subject: 'polly', roles: ['requester'], groups: ['helpdesk'] });
    const click = () => s.h.api.get('/v1/grants').set('Host', portal.host).set('Cookie', cookie).set('X-CSRF-Token', csrfToken);
    const poll = () => click().set('X-Portal-Background', '1');
    // A person at the page: each click keeps it alive past the idle time.
    for (let i = 0; i < 3; i++) {
      s.h.clock.advance(20 * 60 * 1000);
      expect((await click()).status).toBe(200);
    }
    // Then the page alone, polling: 20 and 40 minutes later; the second is past the idle time since the last click.
    s.h.clock.advance(20 * 60 * 1000);
    expect((await poll()).status).toBe(200);
    s.h.clock.advance(20 * 60 * 1000);
    const ended = await poll();
    expect(ended.status).toBe(401);
    const [event] = (
      await s.h.api
        .get('/v1/audit/events')
        .query({ action: 'portal.signed-out', actor: 'polly' })
        .set(bearer(await s.h.token('dave', ['auditor'])))
    ).body.items;
    expect(event).toMatchObject({ actor: { subject: 'polly' }, outcome: 'success', details: { reason: 'idle' } });
  });
});
