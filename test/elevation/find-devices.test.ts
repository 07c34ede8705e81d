import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

/**
 * Issue 19, item 2: a requester finds a device as they type (id prefix or display name), their recent
 * devices first, each with whether they may elevate there and on what terms, through HTTP.
 */
describe('GET /v1/elevation/devices', () => {
  let h: TestApp;
  let admin: string;
  let alice: string;
  let bob: string;

  async function enrol(id: string, displayName: string, groups: string[]): Promise<void> {
    const key = await h.deviceKey();
    await h.api.post('/v1/devices').set(bearer(admin)).send({ id, displayName, groups, agentKey: key.publicJwk }).expect(201);
    await h.ackPending(id, key);
  }
  async function policy(body: Record<string, unknown>): Promise<void> {
    await h.api.post('/v1/policies').set(bearer(admin)).send(body).expect(201);
  }
  const find = (token: string, query: Record<string, string> = {}) => h.api.get('/v1/elevation/devices').query(query).set(bearer(token));
  const ids = (res: { body: { items: Array<{ id: string }> } }) => res.body.items.map((d) => d.id);

  // Minted for each test: one moves the clock past a token's hour.
  beforeEach(async () => {
    admin = await h.token('admin-1', ['admin']);
    alice = await h.token('alice', ['requester'], ['helpdesk']);
    bob = await h.token('bob', ['requester'], ['helpdesk']);
  });
  beforeAll(async () => {
    h = await createTestApp();
    admin = await h.token('admin-1', ['admin']);
    await enrol('laptop-7', 'Finance Laptop Seven', ['finance-laptops']);
    await enrol('laptop-8', 'Reception PC', ['finance-laptops']);
    await enrol('LAPTOP_9', 'Kiosk 100% uptime', ['kiosks']);
    await enrol('hr-1', 'HR laptop', ['hr-laptops']);
    await enrol('old-1', 'Old laptop', ['finance-laptops']);
    await h.api.delete('/v1/devices/old-1').set(bearer(admin)).expect(200);
    await policy({
      name: 'finance-quick',
      principals: { groups: ['helpdesk'] },
      deviceGroups: ['finance-laptops'],
      maxDuration: 'PT1H',
      requireTicket: true,
      ticketPattern: 'INC[0-9]{6}',
    });
    await policy({
      name: 'finance-long',
      principals: { groups: ['helpdesk'] },
      deviceGroups: ['finance-laptops'],
      maxDuration: 'PT4H',
      requireTicket: true,
      ticketPattern: 'INC[0-9]{6}',
      requireApproval: true,
    });
    await policy({ name: 'kiosks', principals: { subjects: ['alice'] }, deviceGroups: ['kiosks'], maxDuration: 'PT30M', requireApproval: true });
  });
  afterAll(async () => {
    await h.close();
  });

  it('finds active devices by id prefix or display name, ignoring case, by name; never a retired one', async () => {
    expect(ids(await find(alice, { q: 'LAPTOP' }))).toEqual(['laptop-7', 'hr-1', 'LAPTOP_9', 'laptop-8']);
    expect(ids(await find(alice, { q: 'finance' }))).toEqual(['laptop-7']);
    expect(ids(await find(alice, { q: 'reception pc' }))).toEqual(['laptop-8']);
    // A prefix of the id only: 'top-7' is inside the id, not at its start.
    expect(ids(await find(alice, { q: 'top-7' }))).toEqual([]);
    expect(ids(await find(alice, { q: 'old' }))).toEqual([]);
  });

  it("treats LIKE's wildcards in the text as themselves", async () => {
    expect(ids(await find(alice, { q: 'laptop_' }))).toEqual(['LAPTOP_9']);
    expect(ids(await find(alice, { q: '%' }))).toEqual(['LAPTOP_9']);
    expect(ids(await find(alice, { q: '_' }))).toEqual([]);
    expect(ids(await find(alice, { q: '\\' }))).toEqual([]);
  });

  it("shows each device's eligibility from the enabled policies, as the caller signs in", async () => {
    const res = await find(alice, { q: 'laptop' });
    expect(res.status).toBe(200);
    const byId: Record<string, { eligibility: object }> = Object.fromEntries((res.body.items as Array<{ id: string; eligibility: object }>).map((d) => [d.id, d]));
    expect(byId['laptop-7']).toEqual({
      id: 'laptop-7',
      displayName: 'Finance Laptop Seven',
      groups: ['finance-laptops'],
      account: 'localadmin',
      recent: false,
      lastRequestedAt: null,
      // The longest of both, a ticket on the one pattern both hold, no approval (finance-quick needs none).
      eligibility: { allowed: true, maxDuration: 'PT4H', maxDurationSeconds: 14400, requireTicket: true, ticketPattern: 'INC[0-9]{6}', requireApproval: false },
    });
    expect(byId['LAPTOP_9']?.eligibility).toEqual({ allowed: true, maxDuration: 'PT30M', maxDurationSeconds: 1800, requireTicket: false, requireApproval: true });
    expect(byId['hr-1']?.eligibility).toEqual({ allowed: false, reason: "No policy designates you for device group 'hr-laptops'.", requireTicket: false, requireApproval: false });
    // A device they may not use: its name and why not, but not its groups or local account.
    expect(byId['hr-1']).not.toHaveProperty('groups');
    expect(byId['hr-1']).not.toHaveProperty('account');
    // Bob is not named by the kiosk policy.
    const bobs = await find(bob, { q: 'kiosk' });
    expect(bobs.body.items[0].eligibility).toMatchObject({ allowed: false, reason: "No policy designates you for device group 'kiosks'." });
  });

  it('puts the caller’s recent devices first, newest request first; no q lists only those; another’s requests do not count', async () => {
    const empty = await h.token('erin', ['requester'], ['helpdesk']);
    expect((await find(empty)).body).toEqual({ items: [] });
    expect((await find(empty, { q: '  ' })).body).toEqual({ items: [] });

    const kiosk = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'LAPTOP_9', reason: 'kiosk update', duration: 'PT15M' });
    expect(kiosk.body.state).toBe('pending');
    h.clock.advance(5000);
    const seven = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H', ticket: 'INC000123' });
    expect(seven.body.state).toBe('active');

    const recent = await find(alice);
    expect(ids(recent)).toEqual(['laptop-7', 'LAPTOP_9']);
    expect(recent.body.items[0]).toMatchObject({ recent: true, lastRequestedAt: seven.body.createdAt, eligibility: { openGrant: { id: seven.body.id, state: 'active' } } });
    expect(recent.body.items[1]).toMatchObject({ recent: true, lastRequestedAt: kiosk.body.createdAt, eligibility: { openGrant: { id: kiosk.body.id, state: 'pending' } } });
    // The open grant it names is the one a second request collides with.
    const again = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'laptop-7', reason: 'again', duration: 'PT1H', ticket: 'INC000124' });
    expect(again.status).toBe(409);

    // Recent first (newest first), then the rest by name.
    expect(ids(await find(alice, { q: 'laptop' }))).toEqual(['laptop-7', 'LAPTOP_9', 'hr-1', 'laptop-8']);
    expect(ids(await find(alice, { q: 'laptop', limit: '3' }))).toEqual(['laptop-7', 'LAPTOP_9', 'hr-1']);
    const bobs = await find(bob, { q: 'laptop' });
    expect(ids(bobs)).toEqual(['laptop-7', 'hr-1', 'LAPTOP_9', 'laptop-8']);
    expect(bobs.body.items.every((d: { recent: boolean; eligibility: object }) => !d.recent && !('openGrant' in d.eligibility))).toBe(true);

    // Once the grant has expired it is no longer open, though the device stays recent.
    h.clock.advance(2 * 3600 * 1000);
    const later = await find(await h.token('alice', ['requester'], ['helpdesk']), { q: 'laptop-7' });
    expect(later.body.items[0]).toMatchObject({ recent: true, lastRequestedAt: seven.body.createdAt });
    expect(later.body.items[0].eligibility.openGrant).toBeUndefined();
  });

  it.each([
    ['a q over 100 characters', { q: 'x'.repeat(101) }, 'query.q'],
    ['a control character in q', { q: 'lap\u0007top' }, 'query.q'],
    ['limit 0', { limit: '0' }, 'query.limit'],
    ['limit 51', { limit: '51' }, 'query.limit'],
    ['a limit that is no number', { limit: 'ten' }, 'query.limit'],
    ['an unknown parameter', { state: 'active' }, 'query'],
  ])('refuses %s with a problem document', async (_what, query, path) => {
    const res = await find(alice, query);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'invalid-request' });
    expect(res.body.errors[0].path).toBe(path);
  });

  it('refuses q given twice', async () => {
    const res = await h.api.get('/v1/elevation/devices?q=a&q=b').set(bearer(alice));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid-request');
  });

  it('is for requesters only: an approver is refused', async () => {
    const res = await find(await h.token('carol', ['approver']), { q: 'laptop' });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('forbidden');
  });
});
