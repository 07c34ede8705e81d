import { TestApp, createTestApp } from '../support/test-app';

/** The audited context of the one event the request that got this response left. */
async function contextOf(h: TestApp, res: { headers: Record<string, string> }) {
  const { items } = await h.audit.query({ requestId: res.headers['x-request-id'] as string, limit: 10 });
  expect(items).toHaveLength(1);
  return items[0]?.context;
}

describe('audit events record where a request came from', () => {
  it('records the socket address and the user agent, and ignores X-Forwarded-For from an untrusted peer', async () => {
    const h = await createTestApp();
    try {
      const res = await h.api.get('/v1/devices').set('x-request-id', 'direct-1').set('user-agent', 'jb-test/1.0').set('x-forwarded-for', '203.0.113.7').expect(401);
      const context = await contextOf(h, res);
      expect(context).toEqual({
        requestId: res.headers['x-request-id'],
        clientRequestId: 'direct-1',
        clientAddress: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/),
        userAgent: 'jb-test/1.0',
      });
    } finally {
      await h.close();
    }
  });

  it('behind a trusted proxy (http.trustProxy) records the address the proxy forwarded, as the rate limits see it', async () => {
    const h = await createTestApp({ JITBROKER_HTTP_TRUST_PROXY: '1' });
    try {
      // One trusted hop: the proxy appended the client it saw; what the client claimed before it is not believed.
      const first = await h.api
        .get('/v1/devices')
        .set('x-request-id', 'proxied-1')
        .set('user-agent', 'jb-test/2.0')
        .set('x-forwarded-for', '198.51.100.9, 203.0.113.7')
        .expect(401);
      expect(await contextOf(h, first)).toEqual({ requestId: first.headers['x-request-id'], clientRequestId: 'proxied-1', clientAddress: '203.0.113.7', userAgent: 'jb-test/2.0' });
      const second = await h.api.get('/v1/devices').set('user-agent', 'jb-test/2.0').set('x-forwarded-for', '203.0.113.8').expect(401);
      expect(await contextOf(h, second)).toEqual({ requestId: second.headers['x-request-id'], clientAddress: '203.0.113.8', userAgent: 'jb-test/2.0' });
    } finally {
      await h.close();
    }
  });

  it("a client cannot file its events under another request's id: an offered id is kept as the client's only", async () => {
    const h = await createTestApp();
    try {
      const victim = await h.api.get('/v1/devices').expect(401);
      const victimId = victim.headers['x-request-id'] as string;
      const forger = await h.api.get('/v1/devices').set('x-request-id', victimId).expect(401);
      expect(forger.headers['x-request-id']).not.toBe(victimId);
      expect(forger.headers['x-client-request-id']).toBe(victimId);
      expect(forger.body.requestId).toBe(forger.headers['x-request-id']);
      // The victim's id still finds the victim's one event, and only it.
      const { items } = await h.audit.query({ requestId: victimId, limit: 10 });
      expect(items.map((e) => e.context)).toEqual([expect.objectContaining({ requestId: victimId })]);
      expect(items[0]?.context).not.toHaveProperty('clientRequestId');
      expect((await h.audit.query({ requestId: forger.headers['x-request-id'] as string, limit: 10 })).items.map((e) => e.context?.clientRequestId)).toEqual([victimId]);
      expect(await h.audit.verify()).toMatchObject({ ok: true });
    } finally {
      await h.close();
    }
  });
});
