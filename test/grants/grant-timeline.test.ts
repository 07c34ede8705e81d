import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

/**
 * Issue 19, item 2: one timeline per request, GET /v1/grants/:id/timeline: requested → approved by
 * whom → each reveal → ended → rotation queued → rotated, confirmed by the device at the agent's
 * acknowledgement. Built from the audit log and the device's credential versions, through HTTP.
 */
const minute = 60 * 1000;

describe('GET /v1/grants/:id/timeline', () => {
  let s: Scenario;
  afterEach(async () => {
    await s.h.close();
  });
  const timeline = (id: string, token: string) => s.h.api.get(`/v1/grants/${id}/timeline`).set(bearer(token));
  const kinds = (res: { body: { entries: Array<{ kind: string }> } }) => res.body.entries.map((e) => e.kind);

  describe('with approval', () => {
    beforeEach(async () => {
      s = await createScenario({ requireApproval: true });
    });

    it('tells the whole story, the rotation confirmed by the device at its acknowledgement', async () => {
      const { id } = await requestGrant(s, s.tokens.alice, { reason: 'printer driver' });
      const requestedAt = s.h.clock.now().toISOString();
      s.h.clock.advance(minute);
      const carol = await s.h.token('carol', ['approver'], [], { name: 'Carol' });
      await s.h.api.post(`/v1/grants/${id}/approve`).set(bearer(carol)).send({ comment: 'go ahead' }).expect(200);
      const approvedAt = s.h.clock.now().toISOString();
      s.h.clock.advance(minute);
      await s.h.api.get(`/v1/grants/${id}/password`).set(bearer(s.tokens.alice)).expect(200);
      s.h.clock.advance(minute);
      await s.h.api.get(`/v1/grants/${id}/password`).set(bearer(s.tokens.alice)).expect(200);
      // Bob's refused reveal is on the audit log, not in the grant's story.
      expect((await s.h.api.get(`/v1/grants/${id}/password`).set(bearer(s.tokens.bob))).status).toBe(403);
      s.h.clock.advance(minute);
      await s.h.api.post(`/v1/grants/${id}/revoke`).set(bearer(s.tokens.alice)).send({ reason: 'fixed' }).expect(200);
      const endedAt = s.h.clock.now();

      const before = await timeline(id, s.tokens.alice);
      expect(before.status).toBe(200);
      expect(before.body).toEqual({
        grantId: id,
        deviceId: 'laptop-7',
        entries: [
          { at: requestedAt, kind: 'requested', actor: { subject: 'alice', name: 'Alice' }, reason: 'printer driver' },
          { at: approvedAt, kind: 'approved', actor: { subject: 'carol', name: 'Carol' }, reason: 'go ahead' },
          { at: expect.any(String), kind: 'revealed', actor: { subject: 'alice', name: 'Alice' }, version: 1 },
          { at: expect.any(String), kind: 'revealed', actor: { subject: 'alice', name: 'Alice' }, version: 1 },
          { at: endedAt.toISOString(), kind: 'ended', actor: { subject: 'alice', name: 'Alice' }, ending: 'done', reason: 'fixed' },
          { at: endedAt.toISOString(), kind: 'rotation-queued', dueBy: new Date(endedAt.getTime() + 5 * minute).toISOString() },
        ],
      });
      const etag = before.headers.etag as string;
      expect((await timeline(id, s.tokens.alice).set('if-none-match', etag)).status).toBe(304);

      // The worker rotates after the post-use delay; the device sets the new password a little later.
      s.h.clock.advance(5 * minute);
      expect(await s.h.rotations.runDueJobs()).toBe(1);
      s.h.clock.advance(2 * minute);
      const { version } = await s.h.ackPending('laptop-7', s.key);
      const ackAt = s.h.clock.now().toISOString();

      const after = await timeline(id, s.tokens.alice).set('if-none-match', etag);
      expect(after.status).toBe(200);
      expect(kinds(after)).toEqual(['requested', 'approved', 'revealed', 'revealed', 'ended', 'rotation-queued', 'rotated']);
      expect(after.body.entries[6]).toEqual({ at: ackAt, kind: 'rotated', actor: { subject: 'laptop-7' }, version });
    });

    it('shows a denial by whom and why, and nothing after it', async () => {
      const { id } = await requestGrant(s, s.tokens.alice);
      await s.h.api.post(`/v1/grants/${id}/deny`).set(bearer(s.tokens.approver)).send({ reason: 'use the kiosk' }).expect(200);
      const res = await timeline(id, s.tokens.alice);
      expect(res.body.entries).toEqual([
        expect.objectContaining({ kind: 'requested' }),
        { at: expect.any(String), kind: 'denied', actor: { subject: 'carol' }, reason: 'use the kiosk' },
      ]);
    });

    it('calls a pending request its requester takes back withdrawn, and a policy change that ends one policy', async () => {
      const { id } = await requestGrant(s, s.tokens.alice);
      await s.h.api.post(`/v1/grants/${id}/revoke`).set(bearer(s.tokens.alice)).send({}).expect(200);
      expect((await timeline(id, s.tokens.alice)).body.entries.map((e: { kind: string; reason?: string; ending?: string }) => [e.kind, e.ending ?? e.reason])).toEqual([
        ['requested', 'printer driver'],
        ['ended', 'withdrawn'],
      ]);
      const other = await requestGrant(s, s.tokens.bob);
      await s.h.api.delete(`/v1/policies/${s.policyId}`).set(bearer(s.tokens.admin)).expect(200);
      const ended = (await timeline(other.id, s.tokens.bob)).body.entries[1];
      expect(ended).toEqual({
        at: expect.any(String),
        kind: 'ended',
        ending: 'policy',
        reason: expect.stringMatching(/^A policy change: no enabled policy allows this grant any more/),
      });
    });

    it('is shown to the requester, approvers, admins and auditors; to nobody else', async () => {
      const { id } = await requestGrant(s, s.tokens.alice);
      for (const token of [s.tokens.alice, s.tokens.approver, s.tokens.admin, s.tokens.auditor]) expect((await timeline(id, token)).status).toBe(200);
      const bob = await timeline(id, s.tokens.bob);
      expect([bob.status, bob.body.code]).toEqual([404, 'not-found']);
      expect((await timeline('00000000-0000-4000-8000-000000000000', s.tokens.admin)).status).toBe(404);
      const bad = await timeline('not-an-id', s.tokens.admin);
      expect([bad.status, bad.body.code]).toEqual([400, 'invalid-request']);
    });
  });

  it('without approval: activated at once, then expired, its rotation queued', async () => {
    s = await createScenario();
    const g = await requestGrant(s, s.tokens.alice, { duration: 'PT1H' });
    s.h.clock.advance(61 * minute);
    expect(await s.h.grants.expireDueGrants()).toBe(1);
    const res = await timeline(g.id, await s.h.token('dave', ['auditor']));
    expect(
      res.body.entries.map((e: { kind: string; reason?: string; ending?: string; dueBy?: string; actor?: unknown }) => [e.kind, e.ending ?? e.reason ?? e.dueBy, e.actor]),
    ).toEqual([
      ['requested', 'printer driver', { subject: 'alice', name: 'Alice' }],
      ['activated', undefined, { subject: 'alice', name: 'Alice' }],
      ['ended', 'expired', undefined],
      // Due postUseDelay after the expiry job ended it.
      ['rotation-queued', new Date(s.h.clock.now().getTime() + 5 * minute).toISOString(), undefined],
    ]);
    // The expiry is at the grant's end, not when the job noticed it.
    expect(res.body.entries[2].at >= g.expiresAt!).toBe(true);
  });
});
