import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { lintPrometheusText } from '../support/prometheus-lint';
import { failInserts, restoreInserts } from '../support/store-faults';
import { bearer } from '../support/bearer';

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[3] ?? '').split(',');
    if (want.every((w) => got.includes(w))) return Number(m[4]);
  }
  return undefined;
}

describe('/metrics', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario();
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('serves Prometheus text with request, rotation, queue and process metrics', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice)).expect(200);
    await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.bob)).expect(403);
    const res = await s.h.api.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0.0.4/);
    expect(sample(res.text, 'jitbroker_http_requests_total', { route: '/v1/grants/:id/password', method: 'GET', status: '200' })).toBe(1);
    expect(sample(res.text, 'jitbroker_http_requests_total', { route: '/v1/grants/:id/password', method: 'GET', status: '403' })).toBe(1);
    expect(sample(res.text, 'jitbroker_http_request_duration_seconds_count', { route: '/v1/grants/:id/password', method: 'GET' })).toBe(2);
    expect(sample(res.text, 'jitbroker_rotations_total', { reason: 'initial', result: 'acknowledged' })).toBe(1);
    for (const name of [
      'jitbroker_rotation_queue_open_jobs',
      'jitbroker_rotation_queue_due_jobs',
      'jitbroker_rotation_queue_oldest_due_age_seconds',
      'jitbroker_devices_rotation_failing',
      'jitbroker_devices_rotation_overdue',
      'jitbroker_process_resident_memory_bytes',
    ]) {
      expect(sample(res.text, name)).toBeDefined();
    }
  });

  it("passes promtool's lint (check metrics): counters end in _total and nothing else does, every family has help, no series twice", async () => {
    const text = (await s.h.api.get('/metrics')).text;
    expect(lintPrometheusText(text)).toEqual([]);
    // The same rule book refuses what promtool refuses.
    const bad = [
      '# HELP a_active_total Open things.',
      '# TYPE a_active_total gauge',
      'a_active_total 1',
      '# TYPE a_events counter',
      'a_events{kind="x"} 1',
      'a_events{kind="x"} 2',
      '# HELP a_wait_milliseconds Waits.',
      '# TYPE a_wait_milliseconds histogram',
      'a_wait_milliseconds_count 1',
    ].join('\n');
    expect(lintPrometheusText(bad)).toEqual([
      'a_events duplicate series a_events{kind="x"}',
      'a_active_total non-counter metrics should not have "_total" suffix',
      'a_events no help text',
      'a_events counter metrics should have "_total" suffix',
      'a_wait_milliseconds use base unit "seconds" instead of "milliseconds"',
    ]);
  });

  it('never carries a device id, a subject, a grant id or a password in a label', async () => {
    const text = (await s.h.api.get('/metrics')).text;
    const labels = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] as string).join('\n');
    for (const secretish of ['laptop-7', 'alice', 'bob', 'admin-1', s.password]) expect(labels).not.toContain(secretish);
    expect(labels).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('counts the rotation queue and flags a failing device', async () => {
    await failInserts(s.h.db, 'vault_secrets', 'vault_down', 'down');
    await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send().expect(202);
    let text = (await s.h.api.get('/metrics')).text;
    expect(sample(text, 'jitbroker_rotation_queue_due_jobs')).toBe(1);
    for (let i = 0; i < 3; i++) {
      await s.h.rotations.runDueJobs();
      const job = await s.h.db.selectFrom('rotation_jobs').select('due_at').where('state', '=', 'open').executeTakeFirstOrThrow();
      s.h.clock.set(new Date(job.due_at));
    }
    text = (await s.h.api.get('/metrics')).text;
    expect(sample(text, 'jitbroker_devices_rotation_failing')).toBe(1);
    expect(sample(text, 'jitbroker_rotations_total', { reason: 'manual', result: 'failed' })).toBe(3);
    await restoreInserts(s.h.db, 'vault_secrets', 'vault_down');
  });

  it('counts devices whose password is older than maxAge as overdue', async () => {
    s.h.clock.advance(5 * 3600 * 1000);
    expect(sample((await s.h.api.get('/metrics')).text, 'jitbroker_devices_rotation_overdue')).toBe(1);
  });

  it('counts grants, reveals, audit appends and vault calls with bounded labels only', async () => {
    // Where the tests above left off: alice's PT1H grant (revealed once, refused to bob once) is five
    // hours old, three manual rotations failed at the vault write, and the scenario's tokens expired.
    const alice = await s.h.token('alice', ['requester'], ['helpdesk'], { name: 'Alice' });
    const bob = await s.h.token('bob', ['requester'], ['helpdesk']);
    const mallory = await s.h.token('mallory', ['requester'], ['contractors']);
    await s.h.api.post('/v1/grants').set(bearer(mallory)).send({ deviceId: 'laptop-7', reason: 'x', duration: 'PT1H' }).expect(403);
    const [oldGrant] = (await s.h.db.selectFrom('grants').select('id').where('requester', '=', 'alice').execute()).map((g) => g.id);
    await s.h.api
      .get(`/v1/grants/${oldGrant as string}/password`)
      .set(bearer(alice))
      .expect(409);
    expect(await s.h.grants.expireDueGrants()).toBe(1);
    // The vault is back: the manual rotation goes through and the agent sets the new password.
    await s.h.rotations.runDueJobs();
    const { password: rotated } = await s.h.ackPending('laptop-7', s.key);
    const g = await requestGrant(s, bob);
    await s.h.api.post('/v1/grants').set(bearer(bob)).send({ deviceId: 'laptop-7', reason: 'again', duration: 'PT1H' }).expect(409);
    const shown = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(bob)).expect(200);
    expect((shown.body as { password: string }).password).toBe(rotated);

    const text = (await s.h.api.get('/metrics')).text;
    const grants = (outcome: string) => sample(text, 'jitbroker_grants_total', { outcome });
    expect([grants('requested'), grants('activated'), grants('policy-denied'), grants('expired'), grants('conflict')]).toEqual([2, 2, 1, 1, 1]);
    expect([grants('approved'), grants('denied'), grants('revoked')]).toEqual([0, 0, 0]);
    const reveals = (outcome: string) => sample(text, 'jitbroker_reveals_total', { outcome });
    expect([reveals('revealed'), reveals('refused'), reveals('unavailable')]).toEqual([2, 2, 0]);
    expect(sample(text, 'jitbroker_rotations_total', { reason: 'manual', result: 'rotated' })).toBe(1);
    // Every audited step appended at least one event; every one was timed.
    const events = Number(
      (
        await s.h.db
          .selectFrom('audit_events')
          .select((e) => e.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(sample(text, 'jitbroker_audit_append_seconds_count')).toBe(events);
    expect(sample(text, 'jitbroker_audit_append_seconds_bucket', { le: '+Inf' })).toBe(events);
    const vault = (name: string, op: string) => sample(text, name, { backend: 'local', op });
    // Enrolment and the manual rotation wrote in the store's transaction; the three failed writes are the errors.
    expect(vault('jitbroker_vault_call_seconds_count', 'putInTransaction')).toBe(5);
    expect(vault('jitbroker_vault_errors_total', 'putInTransaction')).toBe(3);
    expect(vault('jitbroker_vault_call_seconds_count', 'get')).toBeGreaterThanOrEqual(4);
    expect(vault('jitbroker_vault_errors_total', 'get')).toBe(0);
    expect(vault('jitbroker_vault_errors_total', 'put')).toBe(0);

    // Label names: only the bounded ones, on every series of the new metrics.
    const labelNames = (name: string) =>
      new Set(
        text
          .split('\n')
          .filter((l) => l.startsWith(name) && !l.startsWith('#'))
          .flatMap((l) => [...(/\{([^}]*)\}/.exec(l)?.[1] ?? '').matchAll(/([a-z_]+)="/g)].map((m) => m[1])),
      );
    expect([...labelNames('jitbroker_grants_total')]).toEqual(['outcome']);
    expect([...labelNames('jitbroker_reveals_total')]).toEqual(['outcome']);
    expect([...labelNames('jitbroker_audit_append_seconds')].sort()).toEqual(['le']);
    expect([...labelNames('jitbroker_vault_call_seconds')].sort()).toEqual(['backend', 'le', 'op']);
    expect([...labelNames('jitbroker_vault_errors_total')].sort()).toEqual(['backend', 'op']);

    // No label value anywhere in the scrape is, or holds, a device id, a subject, a grant id or a password.
    const values = [...text.matchAll(/[a-z_]+="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string);
    expect(values.length).toBeGreaterThan(50);
    const grantIds = (await s.h.db.selectFrom('grants').select('id').execute()).map((r) => r.id);
    const forbidden = ['laptop-7', 'alice', 'Alice', 'bob', 'carol', 'dave', 'mallory', 'admin-1', ...grantIds, s.password, rotated, ...(await s.h.knownPasswords())];
    for (const v of values) for (const f of forbidden) expect(v.includes(f) ? `${v} holds ${f}` : 'clean').toBe('clean');
  });
});

describe('/metrics: a device whose agent took a new password and went silent', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario();
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('is counted in jitbroker_devices_ack_overdue once rotation.ackTimeout (PT15M) has passed since the fetch, until its agent acknowledges', async () => {
    const ackOverdue = async () => sample((await s.h.api.get('/metrics')).text, 'jitbroker_devices_ack_overdue');
    const agent = async () => `Bearer ${await s.h.agentToken('laptop-7', s.key)}`;
    expect(await ackOverdue()).toBe(0);
    await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send().expect(202);
    await s.h.rotations.runDueJobs();
    // Pending and not yet fetched: nothing is overdue, the agent has not been asked.
    s.h.clock.advance(20 * 60 * 1000);
    expect(await ackOverdue()).toBe(0);
    const fetched = await s.h.api
      .get('/v1/agent/credential')
      .set('authorization', await agent())
      .expect(200);
    s.h.clock.advance(15 * 60 * 1000 - 1000);
    expect(await ackOverdue()).toBe(0);
    s.h.clock.advance(1000);
    expect(await ackOverdue()).toBe(1);
    const device = await s.h.api.get('/v1/devices/laptop-7').set(bearer(s.tokens.admin)).expect(200);
    expect(device.body.rotation.ackOverdue).toBe(true);
    await s.h.api
      .post(`/v1/agent/credential/${(fetched.body as { version: number }).version}/ack`)
      .set('authorization', await agent())
      .send({ result: 'set' })
      .expect(204);
    expect(await ackOverdue()).toBe(0);
  });
});
