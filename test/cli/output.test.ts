import { auditColumns, auditRows } from '../../src/cli/audit-commands';
import { grantColumns } from '../../src/cli/grant-commands';
import { table } from '../../src/cli/output';
import { bearer } from '../support/bearer';
import { Scenario, createScenario, requestGrant } from '../support/scenario';

/**
 * Issue 17, item 10, on both stores: what a requester wrote (a reason with a line break, accepted)
 * and what an identity provider named them (a subject with ESC and U+202E) come back from either
 * store byte for byte, and the CLI's tables (`grant list`, `audit query`, the same columns and
 * function) print each on one row, escaped, so no row can be forged and the terminal is not driven.
 */
describe('CLI tables over what either store gives back', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    await s.h.close();
  });

  const forgedRow = '00000000-0000-4000-8000-000000000000  active  laptop-7  gina  PT1H';
  const subject = 'mallory\u001b[2J\u202eevil';
  /** The table's data rows, split on the terminal's own line breaks. */
  const lines = (text: string) => text.split('\n').slice(1);

  it('grant list and audit query print a reason with a line break, and a subject with ESC and U+202E, escaped on one row each', async () => {
    const mallory = await s.h.token(subject, ['requester'], ['helpdesk']);
    const g = await requestGrant(s, mallory, { reason: `printer\n${forgedRow}` });
    await requestGrant(s, s.tokens.bob);

    const grants = await s.h.api.get('/v1/grants?deviceId=laptop-7').set(bearer(s.tokens.auditor)).expect(200);
    const items = (grants.body as { items: Array<Record<string, unknown>> }).items;
    expect(items.find((i) => i.id === g.id)).toMatchObject({ requester: subject, reason: `printer\n${forgedRow}` });
    const listed = table(items, grantColumns);
    expect([...listed].filter((c) => c === '\u001b' || c === '\u202e')).toEqual([]);
    expect(lines(listed)).toHaveLength(items.length);
    const row = lines(listed).find((l) => l.startsWith(g.id)) as string;
    expect(row).toContain('mallory\\x1b[2J\\u202eevil');
    expect(row.endsWith(`printer\\n${forgedRow}`)).toBe(true);
    expect(lines(listed).filter((l) => l.startsWith('00000000-'))).toEqual([]);

    const events = await s.h.api.get('/v1/audit/events?action=grant.requested').set(bearer(s.tokens.auditor)).expect(200);
    const audited = (events.body as { items: Array<Record<string, unknown>> }).items;
    expect(audited.some((e) => (e.actor as { subject: string }).subject === subject && e.reason === `printer\n${forgedRow}`)).toBe(true);
    const queried = table(auditRows(audited), auditColumns);
    expect([...queried].filter((c) => c === '\u001b' || c === '\u202e')).toEqual([]);
    expect(lines(queried)).toHaveLength(audited.length);
    expect(lines(queried).filter((l) => l.includes('mallory\\x1b[2J\\u202eevil') && l.endsWith(`printer\\n${forgedRow}`))).toHaveLength(1);
  });

  it('the API refuses a reason with ESC, a lone CR or a bidi override (400, the field named) and stores nothing', async () => {
    for (const reason of ['clear \u001b[2J the screen', 'file.\u202etxt.exe', 'over\rwrite']) {
      const res = await s.h.api.post('/v1/grants').set(bearer(s.tokens.alice)).send({ deviceId: 'laptop-7', reason, duration: 'PT1H' });
      expect({ status: res.status, type: res.type }).toEqual({ status: 400, type: 'application/problem+json' });
      expect(JSON.stringify(res.body)).toContain('must not contain control characters (other than tab and line breaks) or bidi overrides');
      expect(JSON.stringify(res.body)).toContain('reason');
    }
    // Tab, LF and CRLF are text: accepted, and kept.
    const ok = await requestGrant(s, s.tokens.alice, { reason: 'line one\r\n\tline two' });
    expect((await s.h.api.get(`/v1/grants/${ok.id}`).set(bearer(s.tokens.alice))).body).toMatchObject({ reason: 'line one\r\n\tline two' });
    expect((await s.h.api.get('/v1/grants').set(bearer(s.tokens.auditor))).body.items).toHaveLength(1);
  });
});
