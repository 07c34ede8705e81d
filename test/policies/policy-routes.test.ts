import { TestApp, createTestApp } from '../support/test-app';

/** Policies through the HTTP API: each change is appended to the audit chain by the request that made it. */
describe('policies: create, read, replace, delete, each change audited', () => {
  let h: TestApp;
  let admin: string;
  let auditor: string;
  let requester: string;
  beforeEach(async () => {
    h = await createTestApp();
    admin = await h.token('admin-1', ['admin'], [], { name: 'Ada Admin' });
    auditor = await h.token('dave', ['auditor']);
    requester = await h.token('alice', ['requester']);
  });
  afterEach(async () => {
    await h.close();
  });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const body = { name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops', 'finance-desktops'], maxDuration: 'PT4H' };
  /** The events appended by the request that got `res` (found by its X-Request-Id). */
  const create = async () => {
    const res = await h.api.post('/v1/policies').set(as(admin)).send(body);
    expect(res.status).toBe(201);
    return res;
  };

  it('POST appends policy.created: the admin as actor, the policy as target, its terms as details', async () => {
    const res = await create();
    const events = await h.eventsOf(res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'policy.created',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1', name: 'Ada Admin' },
      target: `policy:${res.body.id}`,
      details: { name: 'helpdesk-finance', deviceGroups: 'finance-laptops,finance-desktops', maxDuration: 'PT4H', requireApproval: false, requireTicket: false, enabled: true },
      context: { requestId: res.headers['x-request-id'] },
    });
  });

  it('a refused creation (name taken, or not an admin) appends no policy.created', async () => {
    await create();
    const taken = await h.api.post('/v1/policies').set(as(admin)).send(body);
    expect(taken.status).toBe(409);
    expect(await h.eventsOf(taken)).toEqual([]);
    const notAdmin = await h.api
      .post('/v1/policies')
      .set(as(requester))
      .send({ ...body, name: 'other' });
    expect(notAdmin.status).toBe(403);
    expect((await h.eventsOf(notAdmin)).map((e) => e.action)).toEqual(['authorization.failed']);
    expect((await h.audit.query({ action: 'policy.created', limit: 10 })).items).toHaveLength(1);
  });

  it('GET /v1/policies/:id answers the policy to an admin and an auditor, 403 to a requester, 404 for an unknown id', async () => {
    const created = (await create()).body;
    for (const token of [admin, auditor]) {
      const res = await h.api.get(`/v1/policies/${created.id}`).set(as(token));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(created);
      expect(res.body).toMatchObject({ ...body, requireTicket: false, requireApproval: false, enabled: true });
    }
    expect((await h.api.get(`/v1/policies/${created.id}`).set(as(requester))).status).toBe(403);
    const unknown = await h.api.get('/v1/policies/00000000-0000-4000-8000-000000000000').set(as(admin));
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not-found');
  });

  it('PUT appends policy.updated with the new terms', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api
      .put(`/v1/policies/${id}`)
      .set(as(admin))
      .send({ ...body, maxDuration: 'PT1H', requireApproval: true, enabled: false });
    expect(res.status).toBe(200);
    const events = await h.eventsOf(res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'policy.updated',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1' },
      target: `policy:${id}`,
      details: { name: 'helpdesk-finance', maxDuration: 'PT1H', requireApproval: true, enabled: false },
    });
  });

  it('DELETE answers 200 with how many grants it ended, appends policy.deleted, and the policy is gone; a second DELETE is 404 and appends nothing', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api.delete(`/v1/policies/${id}`).set(as(admin));
    // Issue 17: the answer says how many open grants the deletion ended (none here).
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, grantsEnded: 0 });
    const events = await h.eventsOf(res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'policy.deleted', outcome: 'success', actor: { kind: 'user', subject: 'admin-1' }, target: `policy:${id}` });
    expect((await h.api.get(`/v1/policies/${id}`).set(as(admin))).status).toBe(404);
    expect((await h.api.get('/v1/policies').set(as(admin))).body.items).toEqual([]);
    const again = await h.api.delete(`/v1/policies/${id}`).set(as(admin));
    expect(again.status).toBe(404);
    expect(await h.eventsOf(again)).toEqual([]);
  });

  it('DELETE by an auditor is refused (403), keeps the policy, and appends authorization.failed, not policy.deleted', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api.delete(`/v1/policies/${id}`).set(as(auditor));
    expect(res.status).toBe(403);
    expect((await h.eventsOf(res)).map((e) => [e.action, e.outcome, e.actor.subject])).toEqual([['authorization.failed', 'denied', 'dave']]);
    expect((await h.api.get(`/v1/policies/${id}`).set(as(admin))).status).toBe(200);
  });
});
