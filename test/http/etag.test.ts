import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

/**
 * Issue 19: the portal polls its grant lists and timelines. A route declared with `etag` answers a
 * weak ETag (a hash of its body) and 304 with no body to a matching If-None-Match, never cacheable.
 */
describe('ETags on the polled grant routes', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario({ requireApproval: true });
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('answers a grant with a weak ETag, then 304 with no body until the grant changes', async () => {
    const { id } = await requestGrant(s, s.tokens.alice);
    const first = await s.h.api.get(`/v1/grants/${id}`).set(bearer(s.tokens.alice));
    expect(first.status).toBe(200);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{43}"$/);
    expect(first.headers['cache-control']).toBe('no-store');

    const same = await s.h.api.get(`/v1/grants/${id}`).set(bearer(s.tokens.alice)).set('if-none-match', etag);
    expect(same.status).toBe(304);
    expect(same.text).toBe('');
    expect(same.headers.etag).toBe(etag);
    expect(same.headers['cache-control']).toBe('no-store');

    await s.h.api.post(`/v1/grants/${id}/approve`).set(bearer(s.tokens.approver)).send({}).expect(200);
    const changed = await s.h.api.get(`/v1/grants/${id}`).set(bearer(s.tokens.alice)).set('if-none-match', etag);
    expect(changed.status).toBe(200);
    expect(changed.body.state).toBe('active');
    expect(changed.headers.etag).not.toBe(etag);
    await s.h.api.post(`/v1/grants/${id}/revoke`).set(bearer(s.tokens.alice)).send({}).expect(200);
  });

  it('compares weakly, takes a list of tags and *, and answers 200 to a tag it did not send', async () => {
    const list = () => s.h.api.get('/v1/grants').query({ state: 'pending' }).set(bearer(s.tokens.approver));
    const etag = (await list()).headers.etag as string;
    const strong = etag.slice(2);
    expect((await list().set('if-none-match', strong)).status).toBe(304);
    expect((await list().set('if-none-match', `W/"other", ${etag}`)).status).toBe(304);
    expect((await list().set('if-none-match', '*')).status).toBe(304);
    expect((await list().set('if-none-match', 'W/"other"')).status).toBe(200);
    // A new pending request changes the list, and so its tag.
    await requestGrant(s, s.tokens.bob);
    const after = await list().set('if-none-match', etag);
    expect(after.status).toBe(200);
    expect(after.body.items).toHaveLength(1);
  });

  it('gives the same tag to the same answer and none to a refusal or an undeclared route', async () => {
    const a = await s.h.api.get('/v1/grants').set(bearer(s.tokens.auditor));
    const b = await s.h.api.get('/v1/grants').set(bearer(s.tokens.auditor));
    expect(a.headers.etag).toBe(b.headers.etag);
    // Another caller sees another body (alice only her own): another tag.
    expect((await s.h.api.get('/v1/grants').set(bearer(s.tokens.alice))).headers.etag).not.toBe(a.headers.etag);
    const missing = await s.h.api.get('/v1/grants/00000000-0000-4000-8000-000000000000').set(bearer(s.tokens.alice)).set('if-none-match', '*');
    expect(missing.status).toBe(404);
    expect(missing.headers.etag).toBeUndefined();
    const devices = await s.h.api.get('/v1/devices').set(bearer(s.tokens.admin)).set('if-none-match', '*');
    expect(devices.status).toBe(200);
    expect(devices.headers.etag).toBeUndefined();
  });

  it('never answers an audited reveal with a bodiless 304, whatever If-None-Match says', async () => {
    const erin = await s.h.token('erin', ['requester'], ['helpdesk']);
    const { id } = await requestGrant(s, erin);
    await s.h.api.post(`/v1/grants/${id}/approve`).set(bearer(s.tokens.approver)).send({}).expect(200);
    const res = await s.h.api.get(`/v1/grants/${id}/password`).set(bearer(erin)).set('if-none-match', '*');
    expect(res.status).toBe(200);
    expect(res.body.password).toEqual(expect.any(String));
    expect(res.headers.etag).toBeUndefined();
  });
});
