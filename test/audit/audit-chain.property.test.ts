import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { Kysely, SqliteDialect } from 'kysely';
import { canonicalJson, sha256Hex } from '../../src/audit/audit-event';
import { createAuditLog } from '../../src/audit/audit-log';
import { Database } from '../../src/store/schema';
import { systemClock } from '../../src/time/clock';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

/** An attacker with write access to the database file, who can drop the triggers. */
type Tamper =
  | { kind: 'edit-canonical'; seq: number }
  | { kind: 'edit-column'; seq: number; column: 'actor' | 'action' | 'outcome' | 'device_id' | 'at' }
  | { kind: 'edit-and-rehash'; seq: number }
  | { kind: 'delete'; seq: number }
  | { kind: 'swap'; a: number; b: number };

function tamper(file: string, t: Tamper): void {
  const db = new BetterSqlite3(file);
  try {
    db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
    const row = (seq: number) => db.prepare('SELECT * FROM audit_events WHERE seq = ?').get(seq) as Record<string, string | number>;
    switch (t.kind) {
      case 'edit-canonical': {
        const r = row(t.seq);
        const e = JSON.parse(r.canonical as string) as { reason?: string };
        e.reason = `${e.reason ?? ''} (edited)`;
        db.prepare('UPDATE audit_events SET canonical = ? WHERE seq = ?').run(JSON.stringify(e), t.seq);
        break;
      }
      case 'edit-column':
        db.prepare(`UPDATE audit_events SET ${t.column} = coalesce(${t.column}, '') || 'x' WHERE seq = ?`).run(t.seq);
        break;
      case 'edit-and-rehash': {
        // The attacker recomputes this event's own hash; only the next link can give it away.
        const r = row(t.seq);
        const e = JSON.parse(r.canonical as string) as Record<string, unknown>;
        e.outcome = e.outcome === 'success' ? 'denied' : 'success';
        const canonical = canonicalJson(e);
        db.prepare('UPDATE audit_events SET canonical = ?, outcome = ?, hash = ? WHERE seq = ?').run(canonical, e.outcome, sha256Hex(canonical), t.seq);
        break;
      }
      case 'delete':
        db.prepare('DELETE FROM audit_events WHERE seq = ?').run(t.seq);
        break;
      case 'swap': {
        const a = row(t.a);
        const b = row(t.b);
        const set = db.prepare(
          'UPDATE audit_events SET at = ?, actor = ?, action = ?, outcome = ?, device_id = ?, target = ?, request_id = ?, canonical = ?, prev_hash = ?, hash = ? WHERE seq = ?',
        );
        const cols = (r: Record<string, string | number>) => [r.at, r.actor, r.action, r.outcome, r.device_id, r.target, r.request_id, r.canonical, r.prev_hash, r.hash];
        set.run(...cols(b), t.a);
        set.run(...cols(a), t.b);
        break;
      }
    }
  } finally {
    db.close();
  }
}

/** What verify must name for each tampering: every event before it still holds. */
function expectedFailure(t: Tamper): { firstBadSeq: number; problem: string } {
  switch (t.kind) {
    case 'edit-canonical':
      return { firstBadSeq: t.seq, problem: 'content does not match its hash' };
    case 'edit-column':
      return { firstBadSeq: t.seq, problem: 'indexed columns differ from the hashed content' };
    case 'edit-and-rehash':
      // The edited event holds on its own; the next one's link to it does not.
      return { firstBadSeq: t.seq + 1, problem: 'previous hash does not match the chain' };
    case 'delete':
      return { firstBadSeq: t.seq, problem: `event ${t.seq} is missing` };
    case 'swap':
      // Row a now holds b's content and hashes, which link to b - 1, not to a - 1.
      return { firstBadSeq: t.a, problem: 'previous hash does not match the chain' };
  }
}

async function verifyFile(file: string, anchor?: { seq: number; hash: string }) {
  const sqlite = new BetterSqlite3(file, { readonly: true });
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    return await createAuditLog({ db, clock: systemClock }).verify({ anchor });
  } finally {
    await db.destroy();
  }
}

describe('the hash chain detects every edit, removal and reordering', () => {
  let h: TestApp;
  let original: string;
  let count: number;
  let head: { seq: number; hash: string };

  beforeAll(async () => {
    h = await createTestApp();
    const alice = await h.token('alice', ['requester'], ['helpdesk']);
    const key = await h.enrolDevice('laptop-1', ['fleet']);
    await h.ackPending('laptop-1', key);
    await h.api
      .post('/v1/policies')
      .set(bearer(await h.token('admin-1', ['admin'])))
      .send({ name: 'p', principals: { groups: ['helpdesk'] }, deviceGroups: ['fleet'], maxDuration: 'PT1H' })
      .expect(201);
    for (let i = 0; i < 12; i++) {
      const g = await h.api
        .post('/v1/grants')
        .set(bearer(alice))
        .send({ deviceId: 'laptop-1', reason: `case ${i}`, duration: 'PT1H' });
      await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(alice));
      await h.api.post(`/v1/grants/${g.body.id}/revoke`).set(bearer(alice)).send({});
    }
    await h.api.get('/v1/devices/nope').set(bearer(alice));
    original = path.join(h.dataDir, 'pristine.db');
    await h.transactor.drain();
    fs.rmSync(original, { force: true });
    const raw = new BetterSqlite3(path.join(h.dataDir, 'jitbroker.db'));
    raw.exec(`VACUUM INTO '${original}'`);
    raw.close();
    const v = await verifyFile(original);
    expect(v.ok).toBe(true);
    count = v.events;
    head = { seq: v.events, hash: v.headHash };
  });
  afterAll(async () => {
    await h.close();
  });

  it('the untouched copy verifies, with the anchor too', async () => {
    // every tampered position (1..40) has a successor whose link can give a re-hashed edit away
    expect(count).toBeGreaterThan(41);
    expect(await verifyFile(original, head)).toMatchObject({ ok: true, events: count, headHash: head.hash });
  });

  it('any single tampering is caught, and exactly the first event that no longer holds is named', async () => {
    const seq = fc.integer({ min: 1, max: 40 });
    const tampering: fc.Arbitrary<Tamper> = fc.oneof(
      seq.map((s) => ({ kind: 'edit-canonical' as const, seq: s })),
      fc.record({
        kind: fc.constant('edit-column' as const),
        seq,
        column: fc.constantFrom('actor' as const, 'action' as const, 'outcome' as const, 'device_id' as const, 'at' as const),
      }),
      seq.map((s) => ({ kind: 'edit-and-rehash' as const, seq: s })),
      seq.map((s) => ({ kind: 'delete' as const, seq: s })),
      fc
        .tuple(seq, seq)
        .filter(([a, b]) => a !== b)
        .map(([a, b]) => ({ kind: 'swap' as const, a: Math.min(a, b), b: Math.max(a, b) })),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(tampering, async (t) => {
        const copy = path.join(h.dataDir, `copy-${n++}.db`);
        fs.copyFileSync(original, copy);
        tamper(copy, t);
        const v = await verifyFile(copy);
        fs.rmSync(copy);
        expect(v).toMatchObject({ ok: false, ...expectedFailure(t) });
      }),
      { numRuns: 150 },
    );
  });

  it('a cut tail or a restored older copy verifies on its own but fails against the anchor an auditor kept', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10 }), async (cut) => {
        const copy = path.join(h.dataDir, `tail-${cut}.db`);
        fs.copyFileSync(original, copy);
        const db = new BetterSqlite3(copy);
        db.exec('DROP TRIGGER audit_events_no_delete');
        db.prepare('DELETE FROM audit_events WHERE seq > ?').run(count - cut);
        db.close();
        const alone = await verifyFile(copy);
        const anchored = await verifyFile(copy, head);
        fs.rmSync(copy);
        return alone.ok && alone.events === count - cut && !anchored.ok && anchored.firstBadSeq === count - cut + 1;
      }),
      { numRuns: 10 },
    );
  });
});
