import crypto from 'node:crypto';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

describe('only the grant requester sees the password, inside a live grant', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  const reveal = (id: string, token: string) => s.h.api.get(`/v1/grants/${id}/password`).set(bearer(token));

  it('reveals the current password to the requester, audited first, never cached', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await reveal(g.id, s.tokens.alice);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ deviceId: 'laptop-7', account: 'localadmin', password: s.password, version: 1, expiresAt: g.expiresAt });
    const events = await s.h.audit.query({ action: 'grant.password-revealed', limit: 10 });
    expect(events.items).toHaveLength(1);
    expect(events.items[0]).toMatchObject({ outcome: 'success', deviceId: 'laptop-7', target: `grant:${g.id}`, actor: { subject: 'alice' } });
    expect(events.items[0]?.context?.requestId).toBe(res.headers['x-request-id']);
  });

  it.each([
    ['another requester in the same group', 'bob', 403],
    ['an approver', 'approver', 403],
    ['an admin', 'admin', 403],
    ['an auditor', 'auditor', 403],
  ] as const)('refuses %s', async (_who, tokenName, status) => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await reveal(g.id, s.tokens[tokenName]);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain(s.password);
    expect(res.body.code).toBe('forbidden');
  });

  it('audits a reveal of a grant that does not exist (how ids are probed), and one that lost a race with its revoke', async () => {
    const unknownId = crypto.randomUUID();
    const missing = await reveal(unknownId, s.tokens.alice);
    expect(missing.status).toBe(404);
    const g = await requestGrant(s, s.tokens.alice);
    // The revoke commits between the reveal's checks and its audited transaction.
    const read = s.h.credentials.readSecret.bind(s.h.credentials);
    s.h.credentials.readSecret = async (v) => {
      await s.h.grants.revokeGrant({ kind: 'user', subject: 'alice', roles: ['requester'], groups: ['helpdesk'] }, g.id, 'done', { requestId: 'test-revoke' });
      return read(v);
    };
    const raced = await reveal(g.id, s.tokens.alice);
    s.h.credentials.readSecret = read;
    expect(raced.status).toBe(409);
    expect(raced.text).not.toContain(s.password);
    const events = await s.h.audit.query({ action: 'grant.password-revealed', limit: 10 });
    expect(events.items.map((e) => [e.outcome, e.target, e.deviceId ?? null])).toEqual(
      expect.arrayContaining([
        ['denied', `grant:${unknownId}`, null],
        ['denied', `grant:${g.id}`, 'laptop-7'],
      ]),
    );
    expect(events.items.filter((e) => e.outcome === 'success')).toHaveLength(0);
  });

  it('refuses a device token, even the device the grant is for', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await reveal(g.id, await s.h.agentToken('laptop-7', s.key));
    expect(res.status).toBe(401);
    expect(res.text).not.toContain(s.password);
  });

  it('refuses once the grant is past expiresAt, before any expiry job has run', async () => {
    const g = await requestGrant(s, s.tokens.alice, { duration: 'PT30M' });
    s.h.clock.advance(30 * 60 * 1000);
    const alice = await s.h.token('alice', ['requester'], ['helpdesk']);
    const res = await reveal(g.id, alice);
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/expired/);
    expect((await s.h.grants.getGrant({ kind: 'user', subject: 'alice', roles: ['requester'], groups: [] }, g.id)).state).toBe('active');
  });

  it('refuses a revoked grant', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    expect((await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({ reason: 'done' })).status).toBe(200);
    const res = await reveal(g.id, s.tokens.alice);
    expect(res.status).toBe(409);
    expect(res.text).not.toContain(s.password);
  });

  it('refuses a grant still waiting for approval', async () => {
    await s.h.api
      .put(`/v1/policies/${s.policyId}`)
      .set(bearer(s.tokens.admin))
      .send({ name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireApproval: true })
      .expect(200);
    const g = await requestGrant(s, s.tokens.alice);
    expect(g.state).toBe('pending');
    const res = await reveal(g.id, s.tokens.alice);
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/pending/);
  });

  it('audits every refused reveal with the reason, and never the password', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    await reveal(g.id, s.tokens.bob);
    await reveal(g.id, s.tokens.admin);
    const denied = await s.h.audit.query({ outcome: 'denied', limit: 50 });
    expect(denied.items.map((e) => [e.action, e.actor.subject])).toEqual([
      ['grant.password-revealed', 'bob'],
      ['authorization.failed', 'admin-1'],
    ]);
    expect(JSON.stringify(denied.items)).not.toContain(s.password);
  });
});
