import { Scenario, createScenario } from '../support/scenario';
import { bearer } from '../support/bearer';

/** Ticket patterns through the API: RE2 syntax, checked when the policy is saved, matched against the whole ticket. */
describe('ticket patterns match the whole ticket, in linear time', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario({ requireTicket: true, ticketPattern: 'INC[0-9]{6}' });
  });
  afterAll(async () => {
    await s.h.close();
  });
  const ask = (ticket: string, who: 'alice' | 'bob' = 'alice') =>
    s.h.api.post('/v1/grants').set(bearer(s.tokens[who])).send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H', ticket });
  const setPattern = async (ticketPattern: string) => {
    const res = await s.h.api
      .put(`/v1/policies/${s.policyId}`)
      .set(bearer(s.tokens.admin))
      .send({ name: 'helpdesk-finance', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireTicket: true, ticketPattern });
    expect(res.status).toBe(200);
  };
  const revoke = async (id: string, who: 'alice' | 'bob' = 'alice') => {
    expect((await s.h.api.post(`/v1/grants/${id}/revoke`).set(bearer(s.tokens[who])).send({})).status).toBe(200);
  };

  it('refuses a ticket that only contains a match, and accepts the ticket itself', async () => {
    for (const ticket of ['not-a-ticket; see INC000000', 'INC000000 and more', 'xINC000000', 'INC0000001']) {
      const res = await ask(ticket);
      expect({ ticket, status: res.status, code: res.body.code }).toEqual({ ticket, status: 403, code: 'policy-denied' });
      expect(res.body.detail).toContain('requires a ticket matching INC[0-9]{6}');
    }
    const ok = await ask('INC000000');
    expect(ok.status).toBe(201);
    await revoke(ok.body.id);
  });

  it('anchors each alternative, not only the first and the last', async () => {
    await setPattern('INC[0-9]{6}|CHG[0-9]{6}');
    expect((await ask('INC000001 CHG000001')).status).toBe(403);
    const chg = await ask('CHG000001');
    expect(chg.status).toBe(201);
    await revoke(chg.body.id);
  });

  it.each([
    ['a backreference', '(INC)\\1'],
    ['a lookahead', '(?=INC)INC[0-9]+'],
    ['a negative lookbehind', '(?<!x)INC[0-9]+'],
    ['a repeat over 1000', 'INC[0-9]{1001}'],
    ['an unclosed class', 'INC[0-9'],
  ])('refuses %s when the policy is saved, saying why, and stores nothing', async (_what, ticketPattern) => {
    const before = await s.h.snapshot();
    const res = await s.h.api
      .post('/v1/policies')
      .set(bearer(s.tokens.admin))
      .send({ name: 'other', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT1H', ticketPattern });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('invalid-request');
    expect(res.body.errors).toEqual([{ path: 'body.ticketPattern', message: expect.stringMatching(/not an RE2 regular expression \(.+\).*backreferences and lookarounds/) }]);
    expect(await s.h.snapshot()).toEqual(before);
  });

  it('refuses a pattern longer than 200 characters, once, saying so', async () => {
    const res = await s.h.api
      .post('/v1/policies')
      .set(bearer(s.tokens.admin))
      .send({ name: 'other', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT1H', ticketPattern: `INC${'[0-9]'.repeat(50)}` });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.ticketPattern', message: 'at most 200 characters' }]);
  });

  it('fails closed on a stored pattern RE2 cannot compile: no ticket matches it, nothing crashes', async () => {
    await setPattern('INC[0-9]{6}');
    // A pattern saved before patterns were checked (JavaScript's engine accepted backreferences).
    await s.h.db.updateTable('policies').set({ ticket_pattern: '(INC)\\1' }).where('id', '=', s.policyId).execute();
    const res = await ask('INCINC');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('policy-denied');
    expect((await s.h.api.get(`/v1/policies/${s.policyId}`).set(bearer(s.tokens.admin))).body.ticketPattern).toBe('(INC)\\1');
  });

  it('matches a pattern that backtracks exponentially on a JavaScript engine without holding the event loop', async () => {
    // `(a+)+$` on a backtracking engine takes 2^n steps for n a's and a mismatch: with 90 it would never answer.
    await setPattern('(a+)+$');
    const res = await ask(`${'a'.repeat(90)}!`, 'bob');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('policy-denied');
    const ok = await ask('a'.repeat(90), 'bob');
    expect(ok.status).toBe(201);
    await revoke(ok.body.id, 'bob');
  });
});
