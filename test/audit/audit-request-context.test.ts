import { TestApp, createTestApp } from '../support/test-app';

/** The audited context of the one event a request with this id left. */
async function contextOf(h: TestApp, requestId: string) {
  const { items } = await h.audit.query({ requestId, limit: 10 });
  expect(items).toHaveLength(1);
  return items[0]?.context;
}

describe('audit events record where a request came from', () => {
  it('records the socket address and the user agent, and ignores X-Forwarded-For from an untrusted peer', async () => {
    const h = await createTestApp();
    try {
      await h.api.get('/v1/devices').set('x-request-id', 'direct-1').set('user-agent', 'jb-test/1.0').set('x-forwarded-for', '203.0.113.7').expect(401);
      const context = await contextOf(h, 'direct-1');
      expect(context).toEqual({ requestId: 'direct-1', clientAddress: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/), userAgent: 'jb-test/1.0' });
    } finally {
      await h.close();
    }
  });

  it('behind a trusted proxy (http.trustProxy) records the address the proxy forwarded, as the rate limits see it', async () => {
    const h = await createTestApp({ JITBROKER_HTTP_TRUST_PROXY: '1' });
    try {
      // One trusted hop: the proxy appended the client it saw; what the client claimed before it is not believed.
      await h.api.get('/v1/devices').set('x-request-id', 'proxied-1').set('user-agent', 'jb-test/2.0').set('x-forwarded-for', '198.51.100.9, 203.0.113.7').expect(401);
      expect(await contextOf(h, 'proxied-1')).toEqual({ requestId: 'proxied-1', clientAddress: '203.0.113.7', userAgent: 'jb-test/2.0' });
      await h.api.get('/v1/devices').set('x-request-id', 'proxied-2').set('user-agent', 'jb-test/2.0').set('x-forwarded-for', '203.0.113.8').expect(401);
      expect(await contextOf(h, 'proxied-2')).toEqual({ requestId: 'proxied-2', clientAddress: '203.0.113.8', userAgent: 'jb-test/2.0' });
    } finally {
      await h.close();
    }
  });
});
