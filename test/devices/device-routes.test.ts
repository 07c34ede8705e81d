import { Scenario, createScenario, requestGrant } from '../support/scenario';

/** Devices through the HTTP API: forced rotation and retirement are audited by the request that made them; lists filter. */
describe('devices: rotate, retire, list filters', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  it('POST /:id/rotate answers 202 with the job and appends device.rotation-requested naming that job', async () => {
    const res = await s.h.api.post('/v1/devices/laptop-7/rotate').set(as(s.tokens.admin)).send({});
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ jobId: expect.any(String) });
    const job = await s.h.db.selectFrom('rotation_jobs').selectAll().where('id', '=', res.body.jobId).executeTakeFirstOrThrow();
    expect(job).toMatchObject({ device_id: 'laptop-7', reason: 'manual' });
    const events = await s.h.eventsOf(res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: 'device.rotation-requested',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1' },
      deviceId: 'laptop-7',
      target: `job:${res.body.jobId}`,
    });
  });

  it('a rotation an approver asks for is refused (403) and appends authorization.failed, not device.rotation-requested', async () => {
    const res = await s.h.api.post('/v1/devices/laptop-7/rotate').set(as(s.tokens.approver)).send({});
    expect(res.status).toBe(403);
    expect((await s.h.eventsOf(res)).map((e) => e.action)).toEqual(['authorization.failed']);
    expect(await s.h.db.selectFrom('rotation_jobs').selectAll().execute()).toEqual([]);
  });

  it('DELETE /:id retires the device, ends its open grants and appends device.retired with how many ended', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await s.h.api.delete('/v1/devices/laptop-7').set(as(s.tokens.admin));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'laptop-7', status: 'retired', retiredAt: s.h.clock.now().toISOString() });
    expect((await s.h.api.get(`/v1/grants/${g.id}`).set(as(s.tokens.admin))).body).toMatchObject({ state: 'revoked', endReason: 'device retired' });
    // Issue 17: each ended grant goes through the grant state machine, with its own event, before device.retired.
    const events = await s.h.eventsOf(res);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ action: 'grant.revoked', actor: { kind: 'user', subject: 'admin-1' }, target: `grant:${g.id}`, reason: 'device retired' });
    expect(events[1]).toMatchObject({
      action: 'device.retired',
      outcome: 'success',
      actor: { kind: 'user', subject: 'admin-1' },
      deviceId: 'laptop-7',
      details: { grantsEnded: 1 },
    });
    // Retired is final: neither a second retirement nor a rotation is appended.
    const again = await s.h.api.delete('/v1/devices/laptop-7').set(as(s.tokens.admin));
    expect(again.status).toBe(409);
    const rotate = await s.h.api.post('/v1/devices/laptop-7/rotate').set(as(s.tokens.admin)).send({});
    expect(rotate.status).toBe(409);
    expect([...(await s.h.eventsOf(again)), ...(await s.h.eventsOf(rotate))]).toEqual([]);
  });

  it('GET /v1/devices filters by ?group= and ?status=, alone and together', async () => {
    await s.h.enrolDevice('laptop-8', ['finance-laptops', 'sales-laptops']);
    await s.h.enrolDevice('desk-9', ['sales-laptops']);
    await s.h.api.delete('/v1/devices/laptop-8').set(as(s.tokens.admin)).expect(200);
    const ids = async (q: string) => {
      const res = await s.h.api.get(`/v1/devices${q}`).set(as(s.tokens.auditor));
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
    const bad = await s.h.api.get('/v1/devices?status=lost').set(as(s.tokens.auditor));
    expect(bad.status).toBe(400);
  });
});
