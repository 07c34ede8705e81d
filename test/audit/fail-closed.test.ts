import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { failInserts, restoreInserts } from '../support/store-faults';
import { bearer } from '../support/bearer';

/** Makes every audit append fail inside the database, as a full disk or a broken store would. */
async function breakAudit(s: Scenario): Promise<void> {
  await failInserts(s.h.db, 'audit_events', 'audit_down', 'audit store down');
}
async function repairAudit(s: Scenario): Promise<void> {
  await restoreInserts(s.h.db, 'audit_events', 'audit_down');
}

describe('audit before reveal: when the audit append fails, nothing happens and nothing is revealed', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  it('reveal answers 503 with no password, and works again once the audit store is back', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    await breakAudit(s);
    const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'unavailable', status: 503 });
    expect(res.body.password).toBeUndefined();
    expect(res.text).not.toContain(s.password);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    await repairAudit(s);
    const ok = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
    expect(ok.status).toBe(200);
    const reveals = await s.h.audit.query({ action: 'grant.password-revealed', limit: 10 });
    expect(reveals.items).toHaveLength(1);
  });

  it('grant activation answers 503 and leaves no grant behind', async () => {
    await breakAudit(s);
    const before = await s.h.snapshot();
    const res = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason: 'printer', duration: 'PT1H' });
    expect(res.status).toBe(503);
    expect(await s.h.snapshot()).toEqual(before);
  });

  it('approval answers 503 and the grant stays pending', async () => {
    await s.h.api
      .put(`/v1/policies/${s.policyId}`)
      .set(bearer(s.tokens.admin))
      .send({ name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireApproval: true })
      .expect(200);
    const g = await requestGrant(s, s.tokens.alice);
    await breakAudit(s);
    const res = await s.h.api.post(`/v1/grants/${g.id}/approve`).set(bearer(s.tokens.approver)).send({});
    expect(res.status).toBe(503);
    await repairAudit(s);
    const now = await s.h.api.get(`/v1/grants/${g.id}`).set(bearer(s.tokens.approver));
    expect(now.body.state).toBe('pending');
  });

  it('the agent gets no password when its fetch cannot be audited', async () => {
    await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).expect(202);
    await s.h.rotations.runDueJobs();
    await breakAudit(s);
    const res = await s.h.api.get('/v1/agent/credential').set(bearer(await s.h.agentToken('laptop-7', s.key)));
    expect(res.status).toBe(503);
    expect(res.body.password).toBeUndefined();
  });

  it('a refused reveal whose refusal cannot be audited answers 503, not 403', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    await breakAudit(s);
    const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.bob));
    expect(res.status).toBe(503);
  });
});
