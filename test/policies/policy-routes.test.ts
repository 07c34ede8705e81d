import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';
import { expectAudited } from '../support/expect-audited';

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
  const body = { name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops', 'finance-desktops'], maxDuration: 'PT4H' };
  /** The events appended by the request that got `res` (found by its X-Request-Id). */
  const create = async () => {
    const res = await h.api.post('/v1/policies').set(bearer(admin)).send(body);
    expect(res.status).toBe(201);
    return res;
  };

  it('POST appends policy.created: the admin as actor, the policy as target, its terms as details', async () => {
    const res = await create();
    await expectAudited(h, res, {
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
    const taken = await h.api.post('/v1/policies').set(bearer(admin)).send(body);
    expect(taken.status).toBe(409);
    expect(await h.eventsOf(taken)).toEqual([]);
    const notAdmin = await h.api
      .post('/v1/policies')
      .set(bearer(requester))
      .send({ ...body, name: 'other' });
    expect(notAdmin.status).toBe(403);
    await expectAudited(h, notAdmin, { action: 'authorization.failed' });
    expect((await h.audit.query({ action: 'policy.created', limit: 10 })).items).toHaveLength(1);
  });

  it('GET /v1/policies/:id answers the policy to an admin and an auditor, 403 to a requester, 404 for an unknown id', async () => {
    const created = (await create()).body;
    for (const token of [admin, auditor]) {
      const res = await h.api.get(`/v1/policies/${created.id}`).set(bearer(token));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(created);
      expect(res.body).toMatchObject({ ...body, requireTicket: false, requireApproval: false, enabled: true });
    }
    expect((await h.api.get(`/v1/policies/${created.id}`).set(bearer(requester))).status).toBe(403);
    const unknown = await h.api.get('/v1/policies/00000000-0000-4000-8000-000000000000').set(bearer(admin));
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not-found');
  });

  it('PUT appends policy.updated with the new terms', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api
      .put(`/v1/policies/${id}`)
      .set(bearer(admin))
      .send({ ...body, maxDuration: 'PT1H', requireApproval: true, enabled: false });
    expect(res.status).toBe(200);
    await expectAudited(h, res, {
      action: 'policy.updated',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1' },
      target: `policy:${id}`,
      details: { name: 'helpdesk-finance', maxDuration: 'PT1H', requireApproval: true, enabled: false },
    });
  });

  it('DELETE answers 200 with how many grants it ended, appends policy.deleted, and the policy is gone; a second DELETE is 404 and appends nothing', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api.delete(`/v1/policies/${id}`).set(bearer(admin));
    // Issue 17: the answer says how many open grants the deletion ended (none here).
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id, grantsEnded: 0 });
    await expectAudited(h, res, { action: 'policy.deleted', outcome: 'success', actor: { kind: 'user', subject: 'admin-1' }, target: `policy:${id}` });
    expect((await h.api.get(`/v1/policies/${id}`).set(bearer(admin))).status).toBe(404);
    expect((await h.api.get('/v1/policies').set(bearer(admin))).body.items).toEqual([]);
    const again = await h.api.delete(`/v1/policies/${id}`).set(bearer(admin));
    expect(again.status).toBe(404);
    expect(await h.eventsOf(again)).toEqual([]);
  });

  it('DELETE by an auditor is refused (403), keeps the policy, and appends authorization.failed, not policy.deleted', async () => {
    const id = (await create()).body.id as string;
    const res = await h.api.delete(`/v1/policies/${id}`).set(bearer(auditor));
    expect(res.status).toBe(403);
    await expectAudited(h, res, { action: 'authorization.failed', outcome: 'denied', actor: { subject: 'dave' } });
    expect((await h.api.get(`/v1/policies/${id}`).set(bearer(admin))).status).toBe(200);
  });
});
