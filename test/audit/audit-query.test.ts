import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect } from 'kysely';
import { AuditQuery, createAuditLog } from '../../src/audit/audit-log';
import { Database } from '../../src/store/schema';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

describe('audit queries: filters, paging and the indexes behind them', () => {
  let s: Scenario;
  /** The request id the daemon gave the last request (made with the clock stepped back). */
  let steppedBack = '';
  let t0: string;
  let tMid: string;
  beforeAll(async () => {
    s = await createScenario();
    t0 = s.h.clock.now().toISOString();
    // a second device, with reveals of its own, that a filter on laptop-7 must leave out
    const key9 = await s.h.enrolDevice('laptop-9', ['finance-laptops']);
    await s.h.ackPending('laptop-9', key9);
    for (let i = 0; i < 2; i++) {
      const g = await requestGrant(s, s.tokens.alice, { deviceId: 'laptop-9', reason: `other device ${i}` });
      await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice)).expect(200);
      await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({}).expect(200);
    }
    for (let i = 0; i < 6; i++) {
      const token = await s.h.token(i % 2 ? 'alice' : 'bob', ['requester'], ['helpdesk']);
      const g = await requestGrant(s, token, { reason: `case ${i}` });
      await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(token)).expect(200);
      await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(token)).send({}).expect(200);
      s.h.clock.advance(60 * 60 * 1000);
      if (i === 2) tMid = s.h.clock.now().toISOString();
    }
    // a clock stepped back must not put an event before the one it follows
    s.h.clock.advance(-3 * 60 * 60 * 1000);
    steppedBack = (await s.h.api.get('/v1/devices/nope').set('x-request-id', 'stepped-back')).headers['x-request-id'] as string;
  });
  afterAll(async () => {
    await s.h.close();
  });
  const events = async (q: string) => (await s.h.api.get(`/v1/audit/events?${q}`).set(bearer(await s.h.token('dave', ['auditor'])))).body;

  it('filters by actor, device, action, outcome and request id', async () => {
    const alice = await events('actor=alice&limit=500');
    expect(alice.items.length).toBeGreaterThan(0);
    expect(alice.items.every((e: { actor: { subject: string } }) => e.actor.subject === 'alice')).toBe(true);
    expect((await events('action=grant.password-revealed&limit=500')).items).toHaveLength(8);
    const reveals = await events('action=grant.password-revealed&deviceId=laptop-7');
    expect(reveals.items).toHaveLength(6);
    expect(reveals.items.every((e: { deviceId: string; action: string }) => e.deviceId === 'laptop-7' && e.action === 'grant.password-revealed')).toBe(true);
    const other = await events('deviceId=laptop-9&limit=500');
    expect(other.items.filter((e: { action: string }) => e.action === 'grant.password-revealed')).toHaveLength(2);
    expect(other.items.every((e: { deviceId: string }) => e.deviceId === 'laptop-9')).toBe(true);
    const denied = await events('outcome=denied');
    expect(denied.items.map((e: { action: string }) => e.action)).toEqual(['auth.failed']);
    const byRequest = await events(`requestId=${steppedBack}`);
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
    // The audit log's own code over the same file, on a connection that records every statement it
    // runs: the plans below are of the SQL the application issues, with the parameters it binds.
    const raw = new BetterSqlite3(path.join(s.h.dataDir, 'jitbroker.db'), { readonly: true });
    const issued: CompiledQuery[] = [];
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }), log: (e) => void (e.level === 'query' && issued.push(e.query)) });
    const audit = createAuditLog({ db, clock: s.h.clock });
    const plan = (q: CompiledQuery) =>
      raw
        .prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
        .all(...q.parameters)
        .map((r) => (r as { detail: string }).detail)
        .join('; ');
    const filterValues = { actor: 'alice', deviceId: 'laptop-7', action: 'grant.password-revealed', outcome: 'success', requestId: 'stepped-back' } as const;
    const filterColumns = { actor: 'actor', deviceId: 'device_id', action: 'action', outcome: 'outcome', requestId: 'request_id' } as const;
    const names = Object.keys(filterValues) as Array<keyof typeof filterValues>;
    const planOf = async (run: () => Promise<unknown>) => {
      issued.length = 0;
      await run();
      return issued.map((q) => ({ sql: q.sql, plan: plan(q) }));
    };
    try {
      // Every combination of filters the API takes (GET /v1/audit/events), as one page after a cursor.
      const pageShapes = new Set<string>();
      for (let mask = 0; mask < 1 << names.length; mask++) {
        const present = names.filter((_, i) => mask & (1 << i));
        const q: AuditQuery = { limit: 50, afterSeq: 3 };
        for (const f of present) q[f] = filterValues[f];
        const [page, ...rest] = await planOf(() => audit.queryJson(q));
        expect(rest).toEqual([]);
        pageShapes.add(page!.sql);
        // With a filter: that filter's (column, seq) index, so a rare actor or device costs a few rows at any size; else the primary key.
        const searched = present.length === 0 ? 'INTEGER PRIMARY KEY' : `(COVERING )?INDEX audit_events_(${present.map((f) => filterColumns[f]).join('|')})_seq`;
        expect(page!.plan).toMatch(new RegExp(`^SEARCH audit_events USING ${searched} `));
        expect(page!.plan).not.toMatch(/SCAN|TEMP B-TREE/);
      }
      expect(pageShapes.size).toBe(32);

      // A time range (from, to) becomes a seq range first: two lookups on (at, seq), then the page.
      const ranged = await planOf(() => audit.queryJson({ actor: 'alice', from: t0, to: tMid, limit: 50 }));
      expect(ranged).toHaveLength(3);
      for (const lookup of ranged.slice(0, 2)) {
        expect(lookup.plan).toMatch(/^SEARCH audit_events USING COVERING INDEX audit_events_at_seq /);
        expect(lookup.plan).not.toMatch(/SCAN|TEMP B-TREE/);
      }
      expect(ranged[2]!.sql).toContain('"actor" = ?');

      // The export's walk (GET /v1/audit/export?from=&to=) and verify's: pages of the primary key.
      const walked = await planOf(async () => {
        for await (const _ of audit.links({ from: t0, to: tMid }));
      });
      expect(walked.length).toBeGreaterThanOrEqual(3);
      for (const step of walked.slice(2)) {
        expect(step.plan).toMatch(/^SEARCH audit_events USING INTEGER PRIMARY KEY /);
        expect(step.plan).not.toMatch(/SCAN|TEMP B-TREE/);
      }
    } finally {
      await db.destroy();
    }
  });
});
