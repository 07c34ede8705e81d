import crypto from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config/load-config';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

/**
 * A real HTTP receiver on loopback: records what it is sent, answers as told (`answers` in turn,
 * then `otherwise`); with `otherwise: 'hang'` it reads the request and never answers.
 */
async function receiver(answers: number[] = [], otherwise: number | 'hang' = 204) {
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const answer = answers.shift() ?? otherwise;
      if (answer === 'hang') return;
      res.statusCode = answer;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/jitbroker`,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

describe('the escalation portal', () => {
  let h: TestApp;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const secret = 'a-webhook-secret-of-some-length';
  beforeEach(async () => {
    hook = await receiver();
    h = await createTestApp({
      JITBROKER_WEBHOOKS_ENDPOINTS: JSON.stringify([{ url: hook.url, events: ['escalation.submitted', 'grant.awaiting-approval'], secret }]),
    });
  });
  afterEach(async () => {
    await h.close();
    await hook.close();
  });
  const as = async (sub: string, roles: Array<'requester' | 'admin' | 'auditor' | 'approver'>, groups: string[] = []) => ({
    ...bearer(await h.token(sub, roles, groups)),
  });
  const file = async (body: Record<string, unknown>, who = 'alice') =>
    h.api
      .post('/v1/escalations')
      .set(await as(who, ['requester']))
      .send({ severity: 'C', summary: 'Printer policy blocks the finance printers', ...body });

  it.each([
    ['service-policy', 'operations'],
    ['service-setting', 'operations'],
    ['hardware', 'vendor'],
    ['software', 'support'],
    ['network', 'support'],
    ['account', 'support'],
    ['other', 'support'],
  ])('routes %s to %s', async (category, routedTo) => {
    const res = await file({ category });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ severity: 'C', category, routedTo, status: 'submitted', submitter: 'alice' });
    expect(res.body.routedToName.length).toBeGreaterThan(5);
  });

  /** Nothing of a refused filing is kept: no escalation, no delivery, no audit event. */
  async function expectNothingStored(file: () => Promise<unknown>) {
    const before = await h.snapshot();
    const deliveries = await h.db.selectFrom('webhook_deliveries').selectAll().execute();
    await file();
    expect(await h.snapshot()).toEqual(before);
    expect(await h.db.selectFrom('escalations').selectAll().execute()).toEqual([]);
    expect(await h.db.selectFrom('webhook_deliveries').selectAll().execute()).toEqual(deliveries);
  }

  it.each(['A', 'B', 'D', 'c', 'X', 'sev1'])('refuses severity %j with 422 severity-not-accepted, pointing to the IT admin, and stores nothing', async (severity) => {
    await expectNothingStored(async () => {
      const res = await file({ severity, category: 'hardware' });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({
        code: 'severity-not-accepted',
        detail: expect.stringMatching(new RegExp(`^Severity ${severity} is not filed here: only severity C is\\. Contact your IT admin`)),
      });
    });
  });

  it.each([
    ['a number', 3],
    ['null', null],
    ['a boolean', true],
    ['a list', ['C']],
    ['an empty string', ''],
    ['a string too long', 'C'.repeat(17)],
  ])('refuses a severity that is %s with 400 invalid-request naming body.severity, and stores nothing', async (_what, severity) => {
    await expectNothingStored(async () => {
      const res = await file({ severity, category: 'hardware' });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid-request');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.severity']);
    });
  });

  it.each(['coffee', 'printer-jam', 'constructor', 'tostring'])(
    "routes the unlisted category %s to the default destination, the organisation's existing support channel",
    async (category) => {
      const res = await file({ category });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ category, routedTo: 'support', routedToName: "your organisation's existing support channel" });
      const [event] = (await h.audit.query({ action: 'escalation.submitted', limit: 5 })).items;
      expect(event?.details).toMatchObject({ category, routedTo: 'support' });
    },
  );

  it('routes an unlisted category wherever escalations.defaultDestination says, and refuses a default that is no destination', async () => {
    const other = await createTestApp({ JITBROKER_ESCALATIONS_DEFAULT_DESTINATION: 'vendor' });
    try {
      const res = await other.api
        .post('/v1/escalations')
        .set(bearer(await other.token('alice', ['requester'])))
        .send({ severity: 'C', category: 'coffee', summary: 'The coffee machine is on fire' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ routedTo: 'vendor', routedToName: 'the hardware vendor' });
    } finally {
      await other.close();
    }
    expect(() => loadConfig({ env: { JITBROKER_ESCALATIONS_DEFAULT_DESTINATION: 'nowhere' } })).toThrow(
      expect.objectContaining({
        lines: [expect.stringMatching(/escalations\.defaultDestination.*'nowhere' is not one of escalations\.destinations \(operations, vendor, support\)/)],
      }),
    );
  });

  it.each([
    ['an upper-case letter', 'Hardware'],
    ['a space', 'hard ware'],
    ['a leading digit', '1hardware'],
  ])('refuses a malformed category (%s) with 400, and stores nothing', async (_what, category) => {
    await expectNothingStored(async () => {
      const res = await file({ category });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.category']);
    });
  });

  it('only designated staff file: an auditor may not', async () => {
    const res = await h.api
      .post('/v1/escalations')
      .set(await as('dave', ['auditor']))
      .send({ severity: 'C', category: 'hardware', summary: 'x' });
    expect(res.status).toBe(403);
  });

  it('shows where each category goes before anything is sent, and tells someone not designated why, without filing anything', async () => {
    const before = await h.snapshot();
    const alice = await h.api.get('/v1/escalations/routing').set(await as('alice', ['requester']));
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ mayFile: true, severities: ['C'], otherwise: { routedTo: 'support', routedToName: "your organisation's existing support channel" } });
    expect(alice.body.categories).toContainEqual({ category: 'hardware', routedTo: 'vendor', routedToName: 'the hardware vendor' });
    expect(alice.body.categories).toContainEqual({ category: 'service-policy', routedTo: 'operations', routedToName: "the managed desktop service's operations team" });
    const dave = await h.api.get('/v1/escalations/routing').set(await as('dave', ['auditor']));
    expect(dave.body).toMatchObject({ mayFile: false, reason: expect.stringMatching(/not designated/) });
    expect(await h.snapshot()).toEqual(before);
  });

  it('moves submitted → acknowledged → resolved by an admin, each step audited; a finished one stays finished', async () => {
    const e = (await file({ category: 'hardware', deviceId: 'laptop-7', ticket: 'INC1' })).body;
    const admin = await as('admin-1', ['admin']);
    expect(
      (
        await h.api
          .patch(`/v1/escalations/${e.id}`)
          .set(await as('alice', ['requester']))
          .send({ status: 'acknowledged' })
      ).status,
    ).toBe(403);
    expect((await h.api.patch(`/v1/escalations/${e.id}`).set(admin).send({ status: 'resolved' })).status).toBe(409);
    expect((await h.api.patch(`/v1/escalations/${e.id}`).set(admin).send({ status: 'acknowledged', note: 'vendor case 7731' })).body.status).toBe('acknowledged');
    expect((await h.api.patch(`/v1/escalations/${e.id}`).set(admin).send({ status: 'resolved' })).body.status).toBe('resolved');
    expect((await h.api.patch(`/v1/escalations/${e.id}`).set(admin).send({ status: 'rejected' })).status).toBe(409);
    const trail = (await h.audit.query({ deviceId: 'laptop-7', limit: 20 })).items.map((x) => `${x.action}:${JSON.stringify(x.details)}`);
    expect(trail).toEqual([
      expect.stringMatching(/^escalation.submitted:.*"category":"hardware".*"routedTo":"vendor"/),
      'escalation.status-changed:{"from":"submitted","to":"acknowledged"}',
      'escalation.status-changed:{"from":"acknowledged","to":"resolved"}',
    ]);
  });

  it('each sees their own; an admin sees all', async () => {
    await file({ category: 'hardware' }, 'alice');
    await file({ category: 'network' }, 'bob');
    const mine = (await h.api.get('/v1/escalations').set(await as('alice', ['requester']))).body.items;
    expect(mine.map((e: { submitter: string }) => e.submitter)).toEqual(['alice']);
    const all = (await h.api.get('/v1/escalations').set(await as('admin-1', ['admin']))).body.items;
    expect(all).toHaveLength(2);
    const bobs = all.find((e: { submitter: string }) => e.submitter === 'bob');
    expect((await h.api.get(`/v1/escalations/${bobs.id}`).set(await as('alice', ['requester']))).status).toBe(404);
  });

  /** What a receiver checks: the timestamp header, and the HMAC of "<timestamp>.<body>" in v1. */
  const signed = (got: { headers: Record<string, unknown>; body: string }) => {
    const t = got.headers['x-jitbroker-timestamp'] as string;
    return { t, signature: `t=${t},v1=${crypto.createHmac('sha256', secret).update(`${t}.${got.body}`).digest('hex')}` };
  };

  it('announces a routed escalation to the webhook, signed with HMAC-SHA256 over a timestamp and the body', async () => {
    const e = (await file({ category: 'service-policy' })).body;
    expect(await h.webhooks.deliverDue()).toBe(1);
    expect(hook.received).toHaveLength(1);
    const got = hook.received[0]!;
    expect(got.headers['x-jitbroker-event']).toBe('escalation.submitted');
    // The timestamp is the attempt's (the daemon's clock, in unix seconds), and the signature covers it.
    expect(got.headers['x-jitbroker-timestamp']).toBe(String(Math.floor(h.clock.now().getTime() / 1000)));
    expect(got.headers['x-jitbroker-signature']).toBe(signed(got).signature);
    expect(JSON.parse(got.body)).toMatchObject({ event: 'escalation.submitted', data: { id: e.id, routedTo: 'operations', severity: 'C' } });
    expect(await h.webhooks.deliverDue()).toBe(0);
  });

  it('a receiver that fails is retried with backoff; one that is down never holds up the request', async () => {
    await hook.close();
    const started = Date.now();
    const res = await file({ category: 'hardware' });
    expect(res.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(1000);
    await h.webhooks.deliverDue();
    const [d] = await h.db.selectFrom('webhook_deliveries').selectAll().execute();
    expect(d).toMatchObject({ state: 'pending', attempts: 1, last_error: expect.any(String) });
    expect(h.logLines.some((l) => l.includes('webhook delivery failed') && !l.includes('/hooks/jitbroker'))).toBe(true);
    // the receiver comes back, answering 500 once, then 200
    const back = await receiver([500, 200]);
    await h.db.updateTable('webhook_deliveries').set({ url: back.url }).execute();
    (h.config.webhooks.endpoints as Array<{ url: string }>)[0]!.url = back.url;
    for (let i = 0; i < 2; i++) {
      const due = await h.db.selectFrom('webhook_deliveries').select('next_attempt_at').executeTakeFirstOrThrow();
      h.clock.set(new Date(due.next_attempt_at));
      await h.webhooks.deliverDue();
    }
    expect(back.received).toHaveLength(2);
    // Each attempt is signed afresh with its own time: a receiver that refuses old timestamps refuses a replay.
    const [first, second] = back.received.map(signed) as [{ t: string; signature: string }, { t: string; signature: string }];
    expect(Number(second.t)).toBeGreaterThan(Number(first.t));
    expect(back.received.map((r) => r.headers['x-jitbroker-signature'])).toEqual([first.signature, second.signature]);
    expect(await h.db.selectFrom('webhook_deliveries').select(['state', 'attempts']).executeTakeFirstOrThrow()).toEqual({ state: 'delivered', attempts: 3 });
    await back.close();
  });

  it('announces a grant waiting for approval', async () => {
    const key = await h.enrolDevice('laptop-7', ['finance-laptops']);
    await h.ackPending('laptop-7', key);
    await h.api
      .post('/v1/policies')
      .set(await as('admin-1', ['admin']))
      .send({ name: 'p', principals: { groups: ['hd'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireApproval: true })
      .expect(201);
    const g = await h.api
      .post('/v1/grants')
      .set(await as('alice', ['requester'], ['hd']))
      .send({ deviceId: 'laptop-7', reason: 'driver', duration: 'PT1H' });
    expect(g.body.state).toBe('pending');
    await h.webhooks.deliverDue();
    expect(JSON.parse(hook.received[0]!.body)).toMatchObject({ event: 'grant.awaiting-approval', data: { id: g.body.id, deviceId: 'laptop-7', requester: 'alice', policy: 'p' } });
  });
});

describe('webhook delivery: backoff, giving up, receivers that hang', () => {
  let h: TestApp;
  let hook: Awaited<ReturnType<typeof receiver>>;
  afterEach(async () => {
    await h.close();
    await hook.close();
  });

  async function start(answers: number[], otherwise: number | 'hang', env: Record<string, string> = {}) {
    hook = await receiver(answers, otherwise);
    h = await createTestApp({ JITBROKER_WEBHOOKS_ENDPOINTS: JSON.stringify([{ url: hook.url, events: ['escalation.submitted'] }]), ...env });
    const res = await h.api
      .post('/v1/escalations')
      .set(bearer(await h.token('alice', ['requester'])))
      .send({ severity: 'C', category: 'hardware', summary: 'Docking station dead' });
    expect(res.status).toBe(201);
  }
  const delivery = () => h.db.selectFrom('webhook_deliveries').selectAll().executeTakeFirstOrThrow();

  it('waits longer after each failure (doubling from retryBase, with jitter of at most half), capped at retryMax, and not a moment less', async () => {
    await start([], 500, { JITBROKER_WEBHOOKS_RETRY_BASE: 'PT10S', JITBROKER_WEBHOOKS_RETRY_MAX: 'PT1M', JITBROKER_WEBHOOKS_MAX_ATTEMPTS: '10' });
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect(await h.webhooks.deliverDue()).toBe(1);
      const d = await delivery();
      expect(d).toMatchObject({ state: 'pending', attempts: attempt, last_error: 'HTTP 500' });
      const wait = new Date(d.next_attempt_at).getTime() - h.clock.now().getTime();
      waits.push(wait);
      // Full backoff: base · 2^(attempt-1), capped; the jitter takes off up to half of it.
      const full = Math.min(60_000, 10_000 * 2 ** (attempt - 1));
      expect(wait).toBeGreaterThanOrEqual(full / 2);
      expect(wait).toBeLessThanOrEqual(full);
      // Not due a millisecond early: nothing is sent.
      h.clock.set(new Date(new Date(d.next_attempt_at).getTime() - 1));
      expect(await h.webhooks.deliverDue()).toBe(0);
      h.clock.advance(1);
    }
    expect(hook.received).toHaveLength(5);
    // Growth: the fourth wait (full 80 s, capped to 60 s) is at least 30 s; the first at most 10 s.
    expect(waits[0]).toBeLessThanOrEqual(10_000);
    expect(waits[3]).toBeGreaterThanOrEqual(30_000);
  });

  it('gives up after maxAttempts: the delivery is failed, logged as given up (origin only), and never sent again', async () => {
    await start([], 503, { JITBROKER_WEBHOOKS_MAX_ATTEMPTS: '3' });
    for (let attempt = 1; attempt <= 3; attempt++) {
      h.clock.set(new Date((await delivery()).next_attempt_at));
      expect(await h.webhooks.deliverDue()).toBe(1);
    }
    expect(await delivery()).toMatchObject({ state: 'failed', attempts: 3, last_error: 'HTTP 503', delivered_at: null });
    expect(hook.received).toHaveLength(3);
    const retried = h.logLines.filter((l) => l.includes('webhook delivery failed; will retry'));
    const givenUp = h.logLines.filter((l) => l.includes('webhook delivery given up'));
    expect(retried).toHaveLength(2);
    expect(givenUp).toHaveLength(1);
    expect(JSON.parse(givenUp[0] as string)).toMatchObject({ level: 50, attempts: 3, error: 'HTTP 503', endpoint: new URL(hook.url).origin, event: 'escalation.submitted' });
    expect(givenUp[0]).not.toContain('/hooks/jitbroker');
    h.clock.advance(24 * 3600 * 1000);
    expect(await h.webhooks.deliverDue()).toBe(0);
    expect(hook.received).toHaveLength(3);
  });

  it('abandons an attempt to a receiver that never answers after timeoutSeconds, and retries it later', async () => {
    await start([], 'hang', { JITBROKER_WEBHOOKS_TIMEOUT_SECONDS: '1' });
    const started = Date.now();
    expect(await h.webhooks.deliverDue()).toBe(1);
    // Real time: the timeout is the fetch's own (AbortSignal.timeout), not the broker's clock.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(hook.received).toHaveLength(1);
    const d = await delivery();
    expect(d).toMatchObject({ state: 'pending', attempts: 1, last_error: 'no answer within 1 s' });
    expect(new Date(d.next_attempt_at).getTime()).toBeGreaterThan(h.clock.now().getTime());
    expect(h.logLines.some((l) => l.includes('webhook delivery failed; will retry') && l.includes('no answer within 1 s'))).toBe(true);
  });
});
