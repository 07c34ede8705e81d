import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';
import { expectAudited } from '../support/expect-audited';

const user = (subject: string, roles: Array<'requester' | 'approver' | 'admin' | 'auditor'> = ['requester']) => ({ kind: 'user' as const, subject, roles, groups: [] });

describe('grants: request, approve, deny, revoke, expire', () => {
  let s: Scenario;
  afterEach(async () => {
    await s.h.close();
  });

  describe('without approval', () => {
    beforeEach(async () => {
      s = await createScenario();
    });

    it('activates at once with expiresAt = now + duration, audited as requested and activated', async () => {
      const now = s.h.clock.now().getTime();
      const g = await requestGrant(s, s.tokens.alice, { duration: 'PT2H' });
      expect(g.state).toBe('active');
      expect(g.expiresAt).toBe(new Date(now + 2 * 3600 * 1000).toISOString());
      const events = await s.h.audit.query({ deviceId: 'laptop-7', limit: 50 });
      expect(events.items.filter((e) => e.target === `grant:${g.id}`).map((e) => e.action)).toEqual(['grant.requested', 'grant.activated']);
    });

    it('refuses a second open grant for the same requester and device (409), but not for another requester', async () => {
      await requestGrant(s, s.tokens.alice);
      const again = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'again', duration: 'PT1H' });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('conflict');
      await requestGrant(s, s.tokens.bob);
    });

    it('lets the requester ask again once the previous grant has expired, even before the expiry job ran', async () => {
      const first = await requestGrant(s, s.tokens.alice, { duration: 'PT10M' });
      s.h.clock.advance(11 * 60 * 1000);
      const second = await requestGrant(s, await s.h.token('alice', ['requester'], ['helpdesk']));
      expect(second.state).toBe('active');
      expect((await s.h.grants.getGrant(user('alice'), first.id)).state).toBe('expired');
    });

    it('refuses a duration above the policy maximum with policy-denied, audited', async () => {
      const res = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'long', duration: 'PT5H' });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('policy-denied');
      expect(res.body.detail).toMatch(/at most PT4H/);
      const denied = await s.h.audit.query({ action: 'grant.requested', outcome: 'denied', limit: 5 });
      expect(denied.items).toHaveLength(1);
      expect((await s.h.snapshot()).grants).toBe(0);
    });

    it('refuses a requester no policy designates', async () => {
      const mallory = await s.h.token('mallory', ['requester'], ['sales']);
      const res = await s.h.api.post('/v1/grants').set(bearer(mallory)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' });
      expect(res.status).toBe(403);
      expect(res.body.detail).toBe("No policy designates you for device group 'finance-laptops'.");
    });

    it('designates by subject and by role as well as by group', async () => {
      await s.h.api
        .put(`/v1/policies/${s.policyId}`)
        .set(bearer(s.tokens.admin))
        .send({ name: 'helpdesk-finance', principals: { subjects: ['erin'], roles: ['admin'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H' })
        .expect(200);
      const erin = await s.h.token('erin', ['requester']);
      expect((await requestGrant(s, erin)).state).toBe('active');
      const adminRequester = await s.h.token('frank', ['requester', 'admin']);
      expect((await requestGrant(s, adminRequester)).state).toBe('active');
      const alice = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' });
      expect(alice.status).toBe(403);
    });

    it('needs the requester role to ask', async () => {
      const res = await s.h.api.post('/v1/grants').set(bearer(s.tokens.auditor)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('forbidden');
    });

    it('answers 404 for an unknown device and 409 for a retired one', async () => {
      const unknown = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'nope', reason: 'x', duration: 'PT1H' });
      expect(unknown.status).toBe(404);
      await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin)).expect(200);
      const retired = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' });
      expect(retired.status).toBe(409);
    });

    it('revoke by the requester or an admin ends the grant and queues the post-use rotation after the delay', async () => {
      const g = await requestGrant(s, s.tokens.alice);
      const bob = await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.bob)).send({});
      expect(bob.status).toBe(403);
      const res = await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.admin)).send({ reason: 'incident closed' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'revoked', endedBy: 'admin-1', endReason: 'incident closed' });
      // Appended by that very request: the admin, the grant, the reason.
      await expectAudited(s.h, res, {
        action: 'grant.revoked',
        outcome: 'success',
        actor: { kind: 'user', subject: 'admin-1' },
        deviceId: 'laptop-7',
        target: `grant:${g.id}`,
        reason: 'incident closed',
      });
      // bob's refused attempt left authorization.failed, not grant.revoked
      await expectAudited(s.h, bob, { action: 'authorization.failed' });
      const jobs = await s.h.db.selectFrom('rotation_jobs').selectAll().execute();
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ device_id: 'laptop-7', reason: 'post-use', state: 'open' });
      expect(jobs[0]?.due_at).toBe(new Date(s.h.clock.now().getTime() + 5 * 60 * 1000).toISOString());
      const again = await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({});
      expect(again.status).toBe(409);
    });

    it('expireDueGrants ends grants past expiresAt, audits each, and queues one post-use rotation per device', async () => {
      const a = await requestGrant(s, s.tokens.alice, { duration: 'PT1H' });
      const b = await requestGrant(s, s.tokens.bob, { duration: 'PT2H' });
      s.h.clock.advance(61 * 60 * 1000);
      expect(await s.h.grants.expireDueGrants()).toBe(1);
      // bob's grant still uses the password: no rotation yet
      expect(await s.h.db.selectFrom('rotation_jobs').selectAll().execute()).toHaveLength(0);
      s.h.clock.advance(60 * 60 * 1000);
      expect(await s.h.grants.expireDueGrants()).toBe(1);
      expect(await s.h.db.selectFrom('rotation_jobs').selectAll().execute()).toHaveLength(1);
      const expired = await s.h.audit.query({ action: 'grant.expired', limit: 10 });
      expect(expired.items.map((e) => e.target)).toEqual([`grant:${a.id}`, `grant:${b.id}`]);
    });
  });

  describe('with approval', () => {
    beforeEach(async () => {
      s = await createScenario({ requireApproval: true, requireTicket: true, ticketPattern: '^INC[0-9]{6}$' });
    });

    it('waits for another person holding approver; the clock starts at approval', async () => {
      const g = await requestGrant(s, s.tokens.alice, { ticket: 'INC123456', duration: 'PT1H' });
      expect(g.state).toBe('pending');
      expect(g.expiresAt).toBeNull();
      s.h.clock.advance(20 * 60 * 1000);
      const approver = await s.h.token('carol', ['approver']);
      const res = await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(approver)).send({ comment: 'ok' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'active', decidedBy: 'carol', decisionComment: 'ok' });
      expect(res.body.expiresAt).toBe(new Date(s.h.clock.now().getTime() + 3600 * 1000).toISOString());
      const actions = (await s.h.audit.query({ deviceId: 'laptop-7', limit: 50 })).items.filter((e) => e.target === `grant:${g.id}`).map((e) => e.action);
      expect(actions).toEqual(['grant.requested', 'grant.approved', 'grant.activated']);
    });

    it('an approver cannot approve their own request', async () => {
      const both = await s.h.token('gina', ['requester', 'approver'], ['helpdesk']);
      const g = await requestGrant(s, both, { ticket: 'INC000001' });
      const res = await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(both)).send({});
      expect(res.status).toBe(403);
      expect(res.body.detail).toMatch(/another person/);
      expect((await s.h.grants.getGrant(user('carol', ['approver']), g.id)).state).toBe('pending');
    });

    it('a requester without the approver role cannot approve', async () => {
      const g = await requestGrant(s, s.tokens.alice, { ticket: 'INC000001' });
      expect((await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(s.tokens.bob)).send({})).status).toBe(403);
    });

    it('deny needs a reason, ends the request, and a second decision is a conflict', async () => {
      const g = await requestGrant(s, s.tokens.alice, { ticket: 'INC000002' });
      expect((await s.h.api.post(`/v1/grants/${g.id}/deny`).set(bearer(s.tokens.approver)).send({})).status).toBe(400);
      const res = await s.h.api.post(`/v1/grants/${g.id}/deny`).set(bearer(s.tokens.approver)).send({ reason: 'no change window' });
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('denied');
      await expectAudited(s.h, res, {
        action: 'grant.denied',
        outcome: 'success',
        actor: { kind: 'user', subject: 'carol' },
        deviceId: 'laptop-7',
        target: `grant:${g.id}`,
        reason: 'no change window',
      });
      const again = await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(s.tokens.approver)).send({});
      expect(again.status).toBe(409);
    });

    it('requires a ticket that matches the pattern', async () => {
      const none = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' });
      expect(none.status).toBe(403);
      expect(none.body.detail).toMatch(/requires a ticket/);
      const bad = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H', ticket: 'CHG1' });
      expect(bad.status).toBe(403);
      expect(bad.body.detail).toMatch(/matching/);
    });

    it('the requester may withdraw a pending request', async () => {
      const g = await requestGrant(s, s.tokens.alice, { ticket: 'INC000003' });
      const res = await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({});
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('revoked');
      await expectAudited(s.h, res, { action: 'grant.revoked', outcome: 'success', actor: { subject: 'alice' }, target: `grant:${g.id}` });
      // nothing was revealed, so nothing needs rotating
      expect(await s.h.db.selectFrom('rotation_jobs').selectAll().execute()).toHaveLength(0);
    });
  });

  describe('listing and reading', () => {
    beforeEach(async () => {
      s = await createScenario();
    });

    it('order=newest pages from the newest request back, cursor-linked, and still only the requester’s own', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        // One grant per requester and device at a time: each is withdrawn before the next, a minute later.
        const g = await requestGrant(s, s.tokens.alice);
        await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({}).expect(200);
        ids.push(g.id);
        s.h.clock.advance(60_000);
      }
      await requestGrant(s, s.tokens.bob);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: { items: Array<{ id: string }>; nextCursor: string | null } } = await s.h.api
          .get('/v1/grants')
          .query({ order: 'newest', limit: 2, ...(cursor ? { cursor } : {}) })
          .set(bearer(s.tokens.alice));
        seen.push(...page.body.items.map((g) => g.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...ids].reverse());
    });

    it('a requester sees only their own grants; approvers, admins and auditors see all; pages are cursor-linked', async () => {
      await requestGrant(s, s.tokens.alice);
      await requestGrant(s, s.tokens.bob);
      const mine = await s.h.api.get('/v1/grants?requester=bob').set(bearer(s.tokens.alice));
      expect(mine.body.items.map((g: { requester: string }) => g.requester)).toEqual(['alice']);
      const first = await s.h.api.get('/v1/grants?limit=1').set(bearer(s.tokens.auditor));
      expect(first.body.items).toHaveLength(1);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await s.h.api.get(`/v1/grants?limit=1&cursor=${first.body.nextCursor}`).set(bearer(s.tokens.auditor));
      expect(second.body.items).toHaveLength(1);
      expect(second.body.nextCursor).toBeNull();
      expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    });

    it("hides another requester's grant behind 404", async () => {
      const g = await requestGrant(s, s.tokens.alice);
      expect((await s.h.api.get(`/v1/grants/${g.id}`).set(bearer(s.tokens.bob))).status).toBe(404);
      expect((await s.h.api.get(`/v1/grants/${g.id}`).set(bearer(s.tokens.approver))).status).toBe(200);
    });
  });
});
