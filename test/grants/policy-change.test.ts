import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';
import { expectAudited } from '../support/expect-audited';

/**
 * Issue 17, items 1-3: a policy change reaches the grants it made, a revealed password dies with the
 * grant it was revealed under, and a device that still holds a password someone saw is not retired
 * silently. Through the HTTP API, on both stores.
 */
const minutes = (n: number) => n * 60 * 1000;

async function policy(s: Scenario, body: Record<string, unknown>): Promise<string> {
  const res = await s.h.api
    .post('/v1/policies')
    .set(bearer(s.tokens.admin))
    .send({ deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', ...body });
  expect(res.status).toBe(201);
  return (res.body as { id: string }).id;
}

/** PUT of the scenario's policy with some fields changed. */
async function changePolicy(s: Scenario, change: Record<string, unknown>) {
  const current = (await s.h.api.get(`/v1/policies/${s.policyId}`).set(bearer(s.tokens.admin))).body as Record<string, unknown>;
  const { name, principals, deviceGroups, maxDuration, requireTicket, requireApproval, enabled } = current;
  return s.h.api
    .put(`/v1/policies/${s.policyId}`)
    .set(bearer(s.tokens.admin))
    .send({ name, principals, deviceGroups, maxDuration, requireTicket, requireApproval, enabled, ...change });
}

const grantOf = async (s: Scenario, id: string) => (await s.h.api.get(`/v1/grants/${id}`).set(bearer(s.tokens.admin))).body as Record<string, unknown>;
const reveal = (s: Scenario, id: string, token: string) => s.h.api.get(`/v1/grants/${id}/password`).set(bearer(token));
const openJob = (s: Scenario) => s.h.db.selectFrom('rotation_jobs').selectAll().where('device_id', '=', 'laptop-7').where('state', '=', 'open').executeTakeFirst();

describe('a policy change reaches the grants it made', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  it('disabling a policy revokes, in the same transaction, the active grants no other policy allows, and says how many', async () => {
    await policy(s, { name: 'bob-only', principals: { subjects: ['bob'] } });
    const alice = await requestGrant(s, s.tokens.alice);
    const bob = await requestGrant(s, s.tokens.bob);
    expect((await reveal(s, alice.id, s.tokens.alice)).status).toBe(200);

    const res = await changePolicy(s, { enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ enabled: false, grantsEnded: 1 });
    expect(await grantOf(s, alice.id)).toMatchObject({
      state: 'revoked',
      endedBy: expect.stringMatching(/^system:policy-change:admin-1/),
      endReason: expect.stringMatching(/no enabled policy allows this grant any more/),
    });
    // Bob's grant stands: the bob-only policy allows it, and it is held under that one now.
    expect(await grantOf(s, bob.id)).toMatchObject({ state: 'active' });
    expect((await reveal(s, bob.id, s.tokens.bob)).status).toBe(200);

    const events = await s.h.eventsOf(res);
    expect(events.map((e) => [e.action, e.actor.kind, e.target])).toEqual([
      ['grant.revoked', 'system', `grant:${alice.id}`],
      ['policy.updated', 'user', `policy:${s.policyId}`],
    ]);
    expect(events[1]?.details).toMatchObject({ grantsEnded: 1 });
    // Alice had revealed: her password dies with her grant, although Bob's grant is live on the device.
    expect(await openJob(s)).toMatchObject({ reason: 'post-use', due_at: new Date(s.h.clock.now().getTime() + minutes(5)).toISOString() });

    const again = await reveal(s, alice.id, s.tokens.alice);
    expect(again.status).toBe(409);
  });

  it('deleting a policy denies the pending requests it made; they can no longer be approved', async () => {
    await policy(s, { name: 'night-shift', principals: { groups: ['night-shift'] }, requireApproval: true });
    const erin = await s.h.token('erin', ['requester'], ['night-shift']);
    const pending = await requestGrant(s, erin);
    expect(pending.state).toBe('pending');
    const nightShift = (await s.h.api.get(`/v1/grants/${pending.id}`).set(bearer(s.tokens.admin))).body.policyId as string;

    const res = await s.h.api.delete(`/v1/policies/${nightShift}`).set(bearer(s.tokens.admin));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: nightShift, grantsEnded: 1 });
    expect(await grantOf(s, pending.id)).toMatchObject({ state: 'denied', decisionComment: expect.stringMatching(/no enabled policy allows/) });
    await expectAudited(s.h, res, [{ action: 'grant.denied' }, { action: 'policy.deleted' }]);

    const approve = await s.h.api.post(`/v1/grants/${pending.id}/approve`).set(bearer(s.tokens.approver)).send({});
    expect(approve.status).toBe(409);
  });

  it('narrowing a policy (a shorter maxDuration, then other groups) ends what it no longer covers, and nothing else', async () => {
    const long = await requestGrant(s, s.tokens.alice, { duration: 'PT3H' });
    const short = await requestGrant(s, s.tokens.bob, { duration: 'PT1H' });
    const shorter = await changePolicy(s, { maxDuration: 'PT2H' });
    expect(shorter.body).toMatchObject({ grantsEnded: 1 });
    expect(await grantOf(s, long.id)).toMatchObject({ state: 'revoked', endReason: expect.stringMatching(/at most PT2H/) });
    expect(await grantOf(s, short.id)).toMatchObject({ state: 'active' });

    const otherGroups = await changePolicy(s, { principals: { groups: ['another-desk'] } });
    expect(otherGroups.body).toMatchObject({ grantsEnded: 1 });
    expect(await grantOf(s, short.id)).toMatchObject({ state: 'revoked' });
  });

  it('narrowing a policy to fewer device groups ends the open grants on the devices it no longer covers, and only those', async () => {
    await changePolicy(s, { deviceGroups: ['finance-laptops', 'branch-laptops'], requireApproval: true });
    const branchKey = await s.h.enrolDevice('laptop-9', ['branch-laptops']);
    const { password: branchPassword } = await s.h.ackPending('laptop-9', branchKey);
    const approve = (id: string) => s.h.api.post(`/v1/grants/${id}/approve`).set(bearer(s.tokens.approver)).send({}).expect(200);
    // On each device: alice's grant approved (active), bob's still pending.
    const aliceBranch = await requestGrant(s, s.tokens.alice, { deviceId: 'laptop-9' });
    const bobBranch = await requestGrant(s, s.tokens.bob, { deviceId: 'laptop-9' });
    const aliceFinance = await requestGrant(s, s.tokens.alice);
    const bobFinance = await requestGrant(s, s.tokens.bob);
    await approve(aliceBranch.id);
    await approve(aliceFinance.id);
    expect((await reveal(s, aliceBranch.id, s.tokens.alice)).body).toMatchObject({ password: branchPassword });

    const res = await changePolicy(s, { deviceGroups: ['finance-laptops'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ deviceGroups: ['finance-laptops'], grantsEnded: 2 });
    expect(await grantOf(s, aliceBranch.id)).toMatchObject({
      state: 'revoked',
      endedBy: expect.stringMatching(/^system:policy-change:admin-1/),
      endReason: expect.stringMatching(/no enabled policy allows this grant any more/),
    });
    expect(await grantOf(s, bobBranch.id)).toMatchObject({ state: 'denied', decisionComment: expect.stringMatching(/no enabled policy allows/) });
    expect(await grantOf(s, aliceFinance.id)).toMatchObject({ state: 'active' });
    expect(await grantOf(s, bobFinance.id)).toMatchObject({ state: 'pending' });

    const events = await s.h.eventsOf(res);
    expect(events.map((e) => `${e.action} ${e.actor.kind} ${e.target}`).sort()).toEqual(
      [`grant.denied system grant:${bobBranch.id}`, `grant.revoked system grant:${aliceBranch.id}`, `policy.updated user policy:${s.policyId}`].sort(),
    );
    expect(events.at(-1)).toMatchObject({ action: 'policy.updated', details: { grantsEnded: 2 } });
    // The branch laptop's password was shown under the grant that ended: it rotates; the finance laptop's does not.
    const postUse = await s.h.db.selectFrom('rotation_jobs').select(['device_id', 'reason']).where('state', '=', 'open').where('reason', '=', 'post-use').execute();
    expect(postUse).toEqual([{ device_id: 'laptop-9', reason: 'post-use' }]);

    expect((await reveal(s, aliceBranch.id, s.tokens.alice)).status).toBe(409);
    expect((await s.h.api.post(`/v1/grants/${bobBranch.id}/approve`).set(bearer(s.tokens.approver)).send({})).status).toBe(409);
    expect((await reveal(s, aliceFinance.id, s.tokens.alice)).body).toMatchObject({ password: s.password });
    await approve(bobFinance.id);
    // And the devices it no longer covers take no new requests under it.
    const refused = await s.h.api.post('/v1/grants').set(bearer(s.tokens.bob)).send({ deviceId: 'laptop-9', reason: 'printer driver', duration: 'PT1H' });
    expect({ status: refused.status, code: (refused.body as { code?: string }).code }).toEqual({ status: 403, code: 'policy-denied' });
  });

  it('a reveal refuses a grant that no enabled policy allows any more (the requester left the designated group), audited', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const left = await s.h.token('alice', ['requester'], ['accounts']);
    const res = await reveal(s, g.id, left);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'policy-denied', detail: expect.stringMatching(/No policy designates you/) });
    expect(res.text).not.toContain(s.password);
    await expectAudited(s.h, res, { action: 'grant.password-revealed', outcome: 'denied' });
  });

  it('approval decides the request again against the policies as they are now', async () => {
    await changePolicy(s, { requireApproval: true });
    const g = await requestGrant(s, s.tokens.alice, { duration: 'PT3H' });
    expect(g.state).toBe('pending');
    // A change written by a daemon of an earlier release, which ends no grants: the approval still re-decides.
    await s.h.db.updateTable('policies').set({ max_duration: 'PT1H' }).where('id', '=', s.policyId).execute();
    const res = await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(s.tokens.approver)).send({});
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'policy-denied', detail: expect.stringMatching(/allows at most PT1H/) });
    expect(await grantOf(s, g.id)).toMatchObject({ state: 'pending' });
    await expectAudited(s.h, res, { action: 'authorization.failed', outcome: 'denied' });
  });

  it("a request made before requesters' groups were kept stands while its own policy still allows it", async () => {
    await changePolicy(s, { requireApproval: true });
    const first = await requestGrant(s, s.tokens.alice);
    const second = await requestGrant(s, s.tokens.bob);
    // As a grant written by an earlier release reads: no requester groups, roles or sign-in names.
    const earlier = { requester_groups: null, requester_roles: null, requester_logins: null };
    await s.h.db.updateTable('grants').set(earlier).where('id', 'in', [first.id, second.id]).execute();
    await s.h.api.post(`/v1/grants/${first.id}/approve`).set(bearer(s.tokens.approver)).send({}).expect(200);
    const narrowed = await changePolicy(s, { requireApproval: true, maxDuration: 'PT30M' });
    expect(narrowed.body).toMatchObject({ grantsEnded: 2 });
    expect([(await grantOf(s, first.id)).state, (await grantOf(s, second.id)).state]).toEqual(['revoked', 'denied']);
  });
});

describe('a revealed password dies with the grant it was revealed under', () => {
  let s: Scenario;
  afterEach(async () => {
    await s.h.close();
  });

  it("rotates after the revealer's grant ends, whatever other grants are live; the others reveal the new password and are told it changed", async () => {
    s = await createScenario();
    const alice = await requestGrant(s, s.tokens.alice);
    const bob = await requestGrant(s, s.tokens.bob);
    const first = await reveal(s, bob.id, s.tokens.bob);
    expect(first.body).toMatchObject({ password: s.password, version: 1 });
    expect(first.body.changedSinceLastReveal).toBeUndefined();
    expect((await reveal(s, alice.id, s.tokens.alice)).status).toBe(200);

    await s.h.api.post(`/v1/grants/${alice.id}/revoke`).set(bearer(s.tokens.alice)).send({ reason: 'done' }).expect(200);
    // Bob's grant is live, yet the post-use rotation is due after rotation.postUseDelay.
    expect(await openJob(s)).toMatchObject({ reason: 'post-use' });
    s.h.clock.advance(minutes(5));
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    const { password, version } = await s.h.ackPending('laptop-7', s.key);
    expect(version).toBe(2);

    const after = await reveal(s, bob.id, s.tokens.bob);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ password, version: 2, changedSinceLastReveal: { previousVersion: 1 } });
    expect(password).not.toBe(s.password);
    expect((await s.h.eventsOf(after))[0]?.details).toMatchObject({ version: 2, changedSinceLastReveal: true, previousVersion: 1 });
    // Told once: the next reveal of the same version says nothing changed.
    expect((await reveal(s, bob.id, s.tokens.bob)).body.changedSinceLastReveal).toBeUndefined();
  });

  it('a scheduled rotation waits for the grants live when it came due, not for grants that began after', async () => {
    s = await createScenario({}, { JITBROKER_ROTATION_JITTER: '0' });
    const t0 = s.h.clock.now().getTime();
    s.h.clock.advance(minutes(60));
    // Tokens are minted on the app's clock and live an hour: each is made when it is used.
    const alice = await requestGrant(s, await s.h.token('alice', ['requester'], ['helpdesk']), { duration: 'PT4H' });
    s.h.clock.set(new Date(t0 + minutes(240)));
    expect(await s.h.rotations.enqueueDueRotations()).toBe(1);
    s.h.clock.advance(minutes(1));
    await requestGrant(s, await s.h.token('bob', ['requester'], ['helpdesk']), { duration: 'PT4H' });
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    // Deferred to the end of Alice's grant, the one live when the rotation came due; Bob's began after.
    expect(await openJob(s)).toMatchObject({ reason: 'scheduled', due_at: alice.expiresAt });
    s.h.clock.set(new Date(Date.parse(alice.expiresAt as string) + 1000));
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    expect(await openJob(s)).toBeUndefined();
    const pending = await s.h.db.selectFrom('credential_versions').select(['version', 'reason']).where('device_id', '=', 'laptop-7').where('state', '=', 'pending').execute();
    expect(pending).toEqual([{ version: 2, reason: 'scheduled' }]);
  });
});

describe('retiring a device whose password in effect was revealed', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  it('is refused (409, nothing changed) until the device has rotated; then it retires and ends the open grants', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    expect((await reveal(s, g.id, s.tokens.alice)).status).toBe(200);
    const before = await s.h.snapshot();
    const refused = await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin));
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/still holds password version 1, which a requester was shown. Rotate it first/);
    expect(await s.h.snapshot()).toEqual(before);

    await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send({}).expect(202);
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    // Pending is not enough: the device may still hold the password that was seen.
    expect((await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin))).status).toBe(409);
    await s.h.ackPending('laptop-7', s.key);
    const retired = await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin));
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ status: 'retired' });
    expect(await grantOf(s, g.id)).toMatchObject({ state: 'revoked', endReason: 'device retired' });
    // A retired device is never rotated again: ending its grants queues no job that could only be cancelled.
    expect(await openJob(s)).toBeUndefined();
    expect((await s.h.eventsOf(retired)).at(-1)).toMatchObject({ action: 'device.retired', details: { grantsEnded: 1, revealedPasswordRemains: false } });
  });

  it('?force=true retires it anyway, and the audit says a password someone saw remains on the device', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    expect((await reveal(s, g.id, s.tokens.alice)).status).toBe(200);
    const res = await s.h.api.delete('/v1/devices/laptop-7?force=true').set(bearer(s.tokens.admin));
    expect(res.status).toBe(200);
    expect(await openJob(s)).toBeUndefined();
    expect((await s.h.eventsOf(res)).at(-1)).toMatchObject({
      action: 'device.retired',
      reason: expect.stringMatching(/version 1, which a requester was shown, remains on the device/),
      details: { grantsEnded: 1, revealedPasswordRemains: true },
    });
  });
});
