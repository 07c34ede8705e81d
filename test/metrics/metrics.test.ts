import { sql } from 'kysely';
import { Scenario, createScenario, requestGrant } from '../support/scenario';

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
    await s.h.api.get(`/v1/grants/${g.id}/password`).set('authorization', `Bearer ${s.tokens.alice}`).expect(200);
    await s.h.api.get(`/v1/grants/${g.id}/password`).set('authorization', `Bearer ${s.tokens.bob}`).expect(403);
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

  it('never carries a device id, a subject, a grant id or a password in a label', async () => {
    const text = (await s.h.api.get('/metrics')).text;
    const labels = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] as string).join('\n');
    for (const secretish of ['laptop-7', 'alice', 'bob', 'admin-1', s.password]) expect(labels).not.toContain(secretish);
    expect(labels).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('counts the rotation queue and flags a failing device', async () => {
    await sql`CREATE TRIGGER vault_down BEFORE INSERT ON vault_secrets BEGIN SELECT RAISE(ABORT, 'down'); END`.execute(s.h.db);
    await s.h.api.post('/v1/devices/laptop-7/rotate').set('authorization', `Bearer ${s.tokens.admin}`).send().expect(202);
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
    await sql`DROP TRIGGER vault_down`.execute(s.h.db);
  });

  it('counts devices whose password is older than maxAge as overdue', async () => {
    s.h.clock.advance(5 * 3600 * 1000);
    expect(sample((await s.h.api.get('/metrics')).text, 'jitbroker_devices_rotation_overdue')).toBe(1);
  });
});
