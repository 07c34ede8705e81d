import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';
import { expectAudited } from '../support/expect-audited';

/** Devices through the HTTP API: forced rotation and retirement are audited by the request that made them; lists filter. */
describe('devices: rotate, retire, list filters', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  it('POST /:id/rotate answers 202 with the job and appends device.rotation-requested naming that job', async () => {
    const res = await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send({});
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ jobId: expect.any(String) });
    const job = await s.h.db.selectFrom('rotation_jobs').selectAll().where('id', '=', res.body.jobId).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ device_id: 'laptop-7', reason: 'manual' });
    await expectAudited(s.h, res, {
      action: 'device.rotation-requested',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1' },
      deviceId: 'laptop-7',
      target: `job:${res.body.jobId}`,
    });
  });

  it('a rotation an approver asks for is refused (403) and appends authorization.failed, not device.rotation-requested', async () => {
    const res = await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.approver)).send({});
    expect(res.status).toBe(403);
    await expectAudited(s.h, res, { action: 'authorization.failed' });
    expect(await s.h.db.selectFrom('rotation_jobs').selectAll().execute()).toEqual([]);
  });

  it('DELETE /:id retires the device, ends its open grants and appends device.retired with how many ended', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'laptop-7', status: 'retired', retiredAt: s.h.clock.now().toISOString() });
    expect((await s.h.api.get(`/v1/grants/${g.id}`).set(bearer(s.tokens.admin))).body).toMatchObject({ state: 'revoked', endReason: 'device retired' });
    // Issue 17: each ended grant goes through the grant state machine, with its own event, before device.retired.
    await expectAudited(s.h, res, [
      { action: 'grant.revoked', actor: { kind: 'user', subject: 'admin-1' }, target: `grant:${g.id}`, reason: 'device retired' },
      {
        action: 'device.retired',
        outcome: 'success',
        actor: { kind: 'user', subject: 'admin-1' },
        deviceId: 'laptop-7',
        details: { grantsEnded: 1 },
      },
    ]);
    // Retired is final: neither a second retirement nor a rotation is appended.
    const again = await s.h.api.delete('/v1/devices/laptop-7').set(bearer(s.tokens.admin));
    expect(again.status).toBe(409);
    const rotate = await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send({});
    expect(rotate.status).toBe(409);
    expect([...(await s.h.eventsOf(again)), ...(await s.h.eventsOf(rotate))]).toEqual([]);
  });

  it('GET /v1/devices filters by ?group= and ?status=, alone and together', async () => {
    await s.h.enrolDevice('laptop-8', ['finance-laptops', 'sales-laptops']);
    await s.h.enrolDevice('desk-9', ['sales-laptops']);
    await s.h.api.delete('/v1/devices/laptop-8').set(bearer(s.tokens.admin)).expect(200);
    const ids = async (q: string) => {
      const res = await s.h.api.get(`/v1/devices${q}`).set(bearer(s.tokens.auditor));
      expect(res.status).toBe(200);
      return (res.body.items as Array<{ id: string }>).map((d) => d.id);
    };
    expect(await ids('')).toEqual(['desk-9', 'laptop-7', 'laptop-8']);
    expect(await ids('?group=finance-laptops')).toEqual(['laptop-7', 'laptop-8']);
    expect(await ids('?group=sales-laptops')).toEqual(['desk-9', 'laptop-8']);
    expect(await ids('?status=retired')).toEqual(['laptop-8']);
    expect(await ids('?status=active')).toEqual(['desk-9', 'laptop-7']);
    expect(await ids('?group=finance-laptops&status=active')).toEqual(['laptop-7']);
    expect(await ids('?group=sales-laptops&status=retired')).toEqual(['laptop-8']);
    expect(await ids('?group=nobody')).toEqual([]);
    const bad = await s.h.api.get('/v1/devices?status=lost').set(bearer(s.tokens.auditor));
    expect(bad.status).toBe(400);
  });
});
