import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Scenario, createScenario, requestGrant } from '../support/scenario';

describe('audit queries: filters, paging and the indexes behind them', () => {
  let s: Scenario;
  const as = (t: string) => ({ authorization: `Bearer ${t}` });
  let t0: string;
  let tMid: string;
  beforeAll(async () => {
    s = await createScenario();
    t0 = s.h.clock.now().toISOString();
    for (let i = 0; i < 6; i++) {
      const token = await s.h.token(i % 2 ? 'alice' : 'bob', ['requester'], ['helpdesk']);
      const g = await requestGrant(s, token, { reason: `case ${i}` });
      await s.h.api.get(`/v1/grants/${g.id}/password`).set(as(token)).expect(200);
      await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(as(token)).send({}).expect(200);
      s.h.clock.advance(60 * 60 * 1000);
      if (i === 2) tMid = s.h.clock.now().toISOString();
    }
    // a clock stepped back must not put an event before the one it follows
    s.h.clock.advance(-3 * 60 * 60 * 1000);
    await s.h.api.get('/v1/devices/nope').set('x-request-id', 'stepped-back');
  });
  afterAll(async () => {
    await s.h.close();
  });
  const events = async (q: string) => (await s.h.api.get(`/v1/audit/events?${q}`).set(as(await s.h.token('dave', ['auditor'])))).body;

  it('filters by actor, device, action, outcome and request id', async () => {
    const alice = await events('actor=alice&limit=500');
    expect(alice.items.length).toBeGreaterThan(0);
    expect(alice.items.every((e: { actor: { subject: string } }) => e.actor.subject === 'alice')).toBe(true);
    const reveals = await events('action=grant.password-revealed&deviceId=laptop-7');
    expect(reveals.items).toHaveLength(6);
    const denied = await events('outcome=denied');
    expect(denied.items.map((e: { action: string }) => e.action)).toEqual(['auth.failed']);
    const byRequest = await events('requestId=stepped-back');
    expect(byRequest.items).toHaveLength(1);
  });

  it('pages by an opaque cursor, oldest first, with no gaps or repeats', async () => {
    const all: number[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { items: Array<{ seq: number }>; nextCursor: string | null } = await events(`limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...page.items.map((e) => e.seq));
      cursor = page.nextCursor;
    }
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  it('keeps event times in chain order even when the clock steps back, so a time range is exact', async () => {
    const all = (await events('limit=500')).items as Array<{ seq: number; at: string }>;
    for (let i = 1; i < all.length; i++) expect(all[i]!.at >= all[i - 1]!.at).toBe(true);
    const before = (await events(`to=${encodeURIComponent(tMid)}&limit=500`)).items as Array<{ at: string }>;
    const after = (await events(`from=${encodeURIComponent(tMid)}&limit=500`)).items as Array<{ at: string }>;
    expect(before.every((e) => e.at < tMid)).toBe(true);
    expect(after.every((e) => e.at >= tMid)).toBe(true);
    expect(before.length + after.length).toBe(all.length);
    expect((await events(`from=${encodeURIComponent(t0)}&to=${encodeURIComponent(t0)}`)).items).toEqual([]);
  });

  // SQLite's plans (EXPLAIN QUERY PLAN on its file); PostgreSQL's planner chooses by table statistics, so a small test table proves nothing there.
  const onSqlite = process.env.JITBROKER_TEST_STORE === 'postgres' ? it.skip : it;
  onSqlite('every query shape the API exposes searches an index: no full scan, no temporary sort', async () => {
    const raw = new BetterSqlite3(path.join(s.h.dataDir, 'jitbroker.db'), { readonly: true });
    const plan = (where: string) =>
      raw
        .prepare(`EXPLAIN QUERY PLAN SELECT seq, canonical, hash FROM audit_events WHERE seq > ? AND seq <= ? ${where} ORDER BY seq LIMIT 51`)
        .all(0, 1e12)
        .map((r) => (r as { detail: string }).detail)
        .join('; ');
    const shapes = [
      '',
      "AND actor = 'alice'",
      "AND device_id = 'laptop-7'",
      "AND action = 'grant.requested'",
      "AND outcome = 'denied'",
      "AND request_id = 'x'",
      "AND actor = 'alice' AND action = 'x'",
    ];
    try {
      for (const where of shapes) {
        const p = plan(where);
        expect(p).toMatch(/SEARCH audit_events USING (INDEX|INTEGER PRIMARY KEY|COVERING INDEX)/);
        expect(p).not.toMatch(/SCAN audit_events|TEMP B-TREE/);
      }
      for (const q of ['SELECT seq FROM audit_events WHERE at >= ? ORDER BY at, seq LIMIT 1', 'SELECT seq FROM audit_events WHERE at < ? ORDER BY at DESC, seq DESC LIMIT 1']) {
        const p = raw
          .prepare(`EXPLAIN QUERY PLAN ${q}`)
          .all('2026')
          .map((r) => (r as { detail: string }).detail)
          .join('; ');
        expect(p).toMatch(/SEARCH audit_events USING COVERING INDEX audit_events_at_seq/);
        expect(p).not.toMatch(/TEMP B-TREE/);
      }
    } finally {
      raw.close();
    }
  });
});
