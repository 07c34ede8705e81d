import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

describe('abuse limits and security headers', () => {
  let h: TestApp;
  beforeEach(async () => {
    h = await createTestApp({
      JITBROKER_HTTP_RATE_LIMITS_WINDOW_SECONDS: '60',
      JITBROKER_HTTP_RATE_LIMITS_AUTH_FAILURES_PER_ADDRESS: '5',
      JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '3',
      JITBROKER_HTTP_RATE_LIMITS_GRANT_REQUESTS_PER_PRINCIPAL: '2',
    });
  });
  afterEach(async () => {
    await h.close();
  });

  it('after 5 failed authentications from one address, its failed ones answer 429 with Retry-After and a problem document, audited once', async () => {
    for (let i = 0; i < 5; i++) expect((await h.api.get('/v1/devices').set('authorization', 'Bearer not.a.token')).status).toBe(401);
    const res = await h.api.get('/v1/devices').set('authorization', 'Bearer not.a.token');
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.body).toMatchObject({ code: 'rate-limited', status: 429 });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    // No token at all, and a bad agent token, from the same address: refused the same way.
    await h.api.get('/v1/policies').expect(429);
    await h.api.get('/v1/agent/credential').set('authorization', 'Bearer aaaa.bbbb.cccc').expect(429);
    await h.transactor.drain();
    const limited = await h.audit.query({ action: 'security.rate-limited', limit: 10 });
    expect(limited.items).toHaveLength(1);
    // the five refusals were audited one by one; the ones answered 429 only by that one event
    expect((await h.audit.query({ action: 'auth.failed', limit: 50 })).items).toHaveLength(5);
  });

  it('with its address over the failure limit, a valid user and a valid device agent behind it still get through (one client behind a NAT locks out nobody else)', async () => {
    const admin = await h.token('admin-1', ['admin']);
    const key = await h.enrolDevice('laptop-7', ['g']);
    for (let i = 0; i < 5; i++) await h.api.get('/v1/devices').set('authorization', 'Bearer not.a.token').expect(401);
    await h.api.get('/v1/devices').set('authorization', 'Bearer not.a.token').expect(429);
    const devices = await h.api.get('/v1/devices').set(bearer(admin));
    expect(devices.status).toBe(200);
    expect((devices.body as { items: Array<{ id: string }> }).items.map((d) => d.id)).toEqual(['laptop-7']);
    // The agent fetches its pending password and acknowledges it, from the same address.
    const { version } = await h.ackPending('laptop-7', key);
    expect(version).toBe(1);
    // The valid token with its signature changed stays refused, and the valid ones did not reset the count.
    const tampered = `${admin.slice(0, -6)}${admin.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'}`;
    await h.api.get('/v1/devices').set(bearer(tampered)).expect(429);
    await h.api
      .get('/v1/agent/credential')
      .set(bearer(await h.agentToken('laptop-7', await h.deviceKey())))
      .expect(429);
    await h.api.get('/v1/devices').set(bearer(admin)).expect(200);
  });

  it('an address over its request limit still gets /healthz, /readyz and /metrics (a load balancer must not take the daemon out)', async () => {
    const busy = await createTestApp({ JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '3' });
    try {
      const good = await busy.token('admin-1', ['admin']);
      for (let i = 0; i < 3; i++) await busy.api.get('/v1/devices').set(bearer(good)).expect(200);
      await busy.api.get('/v1/devices').set(bearer(good)).expect(429);
      for (const probe of ['/healthz', '/readyz', '/metrics']) expect((await busy.api.get(probe)).status).toBe(200);
      await busy.api.get('/v1/policies').set(bearer(good)).expect(429);
    } finally {
      await busy.close();
    }
  });

  it('behind a trusted proxy, counts each forwarded client address apart, not the proxy', async () => {
    const proxied = await createTestApp({ JITBROKER_HTTP_TRUST_PROXY: '1', JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '2' });
    try {
      const good = await proxied.token('admin-1', ['admin']);
      const from = (client: string) => proxied.api.get('/v1/devices').set(bearer(good)).set('x-forwarded-for', client);
      await from('203.0.113.7').expect(200);
      await from('203.0.113.7').expect(200);
      await from('203.0.113.7').expect(429);
      // The same proxy socket, another client: its own count.
      await from('203.0.113.8').expect(200);
    } finally {
      await proxied.close();
    }
  });

  it('successful requests do not count towards the authentication-failure limit', async () => {
    const good = await h.token('admin-1', ['admin']);
    for (let i = 0; i < 10; i++) expect((await h.api.get('/v1/devices').set(bearer(good))).status).toBe(200);
  });

  it('neither do many successful requests in flight at once (a NAT, a proxy): only failures that happened count', async () => {
    const good = await h.token('admin-1', ['admin']);
    const base = await h.listen();
    // Audited writes: each waits for its group commit, so they are all in flight together.
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await fetch(`${base}/v1/policies`, {
          method: 'POST',
          headers: { ...bearer(good), 'content-type': 'application/json' },
          body: JSON.stringify({ name: `p-${i}`, principals: { groups: ['g'] }, deviceGroups: ['d'], maxDuration: 'PT1H' }),
        });
        return res.status;
      }),
    );
    expect(statuses).toEqual(Array(40).fill(201));
  });

  it('limits grant requests and reveals per principal, not per address', async () => {
    const key = await h.enrolDevice('laptop-7', ['g']);
    await h.ackPending('laptop-7', key);
    await h.api
      .post('/v1/policies')
      .set(bearer(await h.token('admin-1', ['admin'])))
      .send({ name: 'p', principals: { groups: ['hd'] }, deviceGroups: ['g'], maxDuration: 'PT1H' })
      .expect(201);
    const alice = await h.token('alice', ['requester'], ['hd']);
    const bob = await h.token('bob', ['requester'], ['hd']);
    const g = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'laptop-7', reason: 'r', duration: 'PT1H' });
    expect(g.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(alice))).status).toBe(200);
    const fourth = await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(alice));
    expect(fourth.status).toBe(429);
    expect(fourth.body.password).toBeUndefined();
    // bob, from the same address, is not held back by alice's reveals
    const gb = await h.api.post('/v1/grants').set(bearer(bob)).send({ deviceId: 'laptop-7', reason: 'r', duration: 'PT1H' });
    expect((await h.api.get(`/v1/grants/${gb.body.id}/password`).set(bearer(bob))).status).toBe(200);
    expect((await h.api.post('/v1/grants').set(bearer(bob)).send({ deviceId: 'nope', reason: 'r', duration: 'PT1H' })).status).toBe(404);
    expect((await h.api.post('/v1/grants').set(bearer(bob)).send({ deviceId: 'nope', reason: 'r', duration: 'PT1H' })).status).toBe(429);
  });

  it("sends a JSON API's security headers, on answers and on problem documents, and none meant for HTML pages", async () => {
    for (const res of [await h.api.get('/healthz'), await h.api.get('/v1/no-such-route')]) {
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      for (const pageOnly of [
        'x-powered-by',
        'x-dns-prefetch-control',
        'x-download-options',
        'x-permitted-cross-domain-policies',
        'x-xss-protection',
        'origin-agent-cluster',
        'cross-origin-opener-policy',
      ]) {
        expect(res.headers[pageOnly]).toBeUndefined();
      }
    }
  });
});
