import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { canonicalJson, genesisHash, sha256Hex } from '../../src/audit/audit-event';
import { exportVerifyNotes, verifyExport } from '../../src/audit/audit-export';
import { checkpointKeyFromJwk } from '../../src/audit/checkpoint-signer';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { createTestApp } from '../support/test-app';
import { AuditAction } from '../../src/audit/audit-actions';
import { bearer } from '../support/bearer';

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const verifyText = (text: string, opts: Parameters<typeof verifyExport>[1] = {}) => verifyExport(Readable.from([text]), opts);

interface ExportedEvent {
  seq: number;
  prevHash: string;
  action: string;
  reason?: string;
  details?: Record<string, unknown>;
  [field: string]: unknown;
}
const eventsOf = (text: string) => lines(text).map((l) => (JSON.parse(l) as { event: ExportedEvent }).event);

/**
 * What a forger with the file but not the private key writes: the events as given, numbered from
 * `firstSeq`, each linked to the one before and hashed exactly as the daemon hashes (sha256 of the
 * canonical form), with every checkpoint's vouched-for head made consistent again. Only a
 * signature can tell such a file from the real one.
 */
function rechain(events: ExportedEvent[], firstSeq = 1, firstPrevHash = genesisHash): string {
  let prevHash = firstPrevHash;
  return events
    .map((original, i) => {
      const e: ExportedEvent = { ...original, seq: firstSeq + i, prevHash };
      if (e.action === 'audit.checkpoint') e.details = { ...e.details, checkpointSeq: e.seq - 1, checkpointHash: prevHash };
      const hash = sha256Hex(canonicalJson(e));
      prevHash = hash;
      return JSON.stringify({ event: e, hash }) + '\n';
    })
    .join('');
}

describe('audit export, offline verification and signed checkpoints', () => {
  let s: Scenario;
  let auditor: string;
  let jsonl: string;
  beforeAll(async () => {
    s = await createScenario({}, { JITBROKER_AUDIT_CHECKPOINT_EVERY_EVENTS: '10' });
    auditor = await s.h.token('dave', ['auditor']);
    for (let i = 0; i < 5; i++) {
      const g = await requestGrant(s, s.tokens.alice, { reason: `case ${i}` });
      await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice)).expect(200);
      await s.h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(s.tokens.alice)).send({}).expect(200);
      await s.h.checkpoints.checkpointIfDue();
      s.h.clock.advance(60 * 1000);
    }
    const res = await s.h.api.get('/v1/audit/export?format=jsonl').set(bearer(auditor));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    jsonl = res.text;
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('exports every event with its hashes, and the export verifies on its own with the checkpoint key', async () => {
    const head = await s.h.audit.head();
    const all = lines(jsonl);
    // the export itself was audited before its first byte, so it is the last line
    expect(all).toHaveLength(head.seq);
    expect(JSON.parse(all.at(-1) as string).event.action).toBe('audit.exported');
    const key = (await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body;
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(key.d).toBeUndefined();
    const r = await verifyText(jsonl, { checkpointKey: checkpointKeyFromJwk(key) });
    expect(r).toMatchObject({ ok: true, events: head.seq, headHash: head.hash, firstSeq: 1, fromStart: true });
    expect(r.checkpoints).toBeGreaterThanOrEqual(2);
  });

  it('with the key, says up to which event a checkpoint signature vouches and how many events after it none does yet', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body);
    const events = eventsOf(jsonl);
    const checkpoints = events.filter((e) => e.action === 'audit.checkpoint');
    const lastCheckpoint = checkpoints.at(-1) as ExportedEvent;
    const r = await verifyText(jsonl, { checkpointKey: key });
    expect(r).toMatchObject({ ok: true, checkpoints: checkpoints.length, signedThroughSeq: lastCheckpoint.seq - 1, unsignedEvents: events.length - (lastCheckpoint.seq - 1) });
    expect(r.unsignedEvents).toBeGreaterThan(0);
    expect(exportVerifyNotes(r, true)).toEqual([
      `events 1-${lastCheckpoint.seq - 1} are vouched for by a checkpoint signature; the ${r.unsignedEvents} after them are not signed yet (the next checkpoint will)`,
    ]);
    expect(exportVerifyNotes(r, false)).toEqual([expect.stringMatching(/^without --key the chain is checked against itself only/)]);
  });

  it('with the key, an export that holds no checkpoint signed by it fails; without the key it verifies but proves only self-consistency', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body);
    // every event kept but the checkpoints, renumbered and re-hashed from the first
    const stripped = rechain(eventsOf(jsonl).filter((e) => e.action !== 'audit.checkpoint'));
    expect(await verifyText(stripped)).toMatchObject({ ok: true, fromStart: true });
    const r = await verifyText(stripped, { checkpointKey: key });
    expect(r).toMatchObject({
      ok: false,
      checkpoints: 0,
      signedThroughSeq: 0,
      problem: expect.stringMatching(/^no checkpoint signed by this key vouches for any of the \d+ events/),
    });
    expect(r.firstBadSeq).toBeUndefined();
    // a checkpoint signed by another key does not count either
    const other = crypto.generateKeyPairSync('ed25519').publicKey;
    expect(await verifyText(jsonl, { checkpointKey: other })).toMatchObject({ ok: false, problem: 'checkpoint signature does not verify' });
    // nor does an empty file
    expect(await verifyText('', { checkpointKey: key })).toMatchObject({ ok: false, events: 0 });
  });

  it('an export whose leading lines were cut verifies from its first event and says it does not start at the first', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body);
    const all = lines(jsonl);
    const events = eventsOf(jsonl);
    const firstCheckpoint = events.find((e) => e.action === 'audit.checkpoint') as ExportedEvent;
    const lastCheckpoint = events.filter((e) => e.action === 'audit.checkpoint').at(-1) as ExportedEvent;
    const cut = all.slice(firstCheckpoint.seq).join('\n');
    const r = await verifyText(cut, { checkpointKey: key });
    expect(r).toMatchObject({ ok: true, firstSeq: firstCheckpoint.seq + 1, fromStart: false, events: all.length - firstCheckpoint.seq, signedThroughSeq: lastCheckpoint.seq - 1 });
    expect(exportVerifyNotes(r, true)[0]).toBe(
      `the export starts at event ${firstCheckpoint.seq + 1} and was checked from there: events before it are not in the file (an export with from=, or one cut at the start)`,
    );
    // cut after the last checkpoint: nothing left that a signature vouches for
    const tail = all.slice(lastCheckpoint.seq - 1).join('\n');
    expect(await verifyText(tail, { checkpointKey: key })).toMatchObject({ ok: false, firstSeq: lastCheckpoint.seq, fromStart: false, signedThroughSeq: 0 });
    // the first event cannot claim a predecessor: seq 1 links to the genesis hash
    const forgedStart = rechain(events, 1, 'f'.repeat(64));
    expect(await verifyText(forgedStart)).toMatchObject({ ok: false, firstBadSeq: 1, problem: 'previous hash does not match the chain' });
  });

  it('a time range exports a part of the chain that verifies from its first event', async () => {
    const events = lines(jsonl).map((l) => JSON.parse(l).event as { seq: number; at: string });
    const from = events[10]!.at;
    const res = await s.h.api.get(`/v1/audit/export?from=${encodeURIComponent(from)}`).set(bearer(auditor));
    const part = lines(res.text);
    const firstInRange = events.find((e) => e.at >= from)!.seq;
    expect(JSON.parse(part[0] as string).event.seq).toBe(firstInRange);
    const r = await verifyText(res.text);
    expect(r).toMatchObject({ ok: true, firstSeq: firstInRange, fromStart: false });
    expect(firstInRange).toBeGreaterThan(1);
  });

  it('CSV: a header, the indexed fields, and the event as hashed in the last column', async () => {
    const res = await s.h.api.get('/v1/audit/export?format=csv').set(bearer(auditor));
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = res.text.split('\r\n').filter((l) => l !== '');
    expect(rows[0]).toBe('seq,at,actor,action,outcome,device_id,target,request_id,prev_hash,hash,event');
    expect(rows[1]).toMatch(/^1,[^,]+,admin-1,device\.enrolled,success,laptop-7,version:1,[^,]*,0{64},[0-9a-f]{64},"\{""action"":""device\.enrolled""/);
  });

  it('any edit of an export, a removed or swapped line, is caught offline and exactly the first bad event named', async () => {
    const original = lines(jsonl);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant('edit' as const), at: fc.nat(original.length - 1), field: fc.constantFrom('reason', 'outcome', 'actor', 'at', 'details') }),
          // the last line has no successor to give a re-hashed edit away (that is what checkpoints are for)
          fc.record({ kind: fc.constant('edit-and-rehash' as const), at: fc.nat(original.length - 2) }),
          // not the first line: an export may start mid-chain (from=), and the last: a cut tail needs an anchor
          fc.record({ kind: fc.constant('remove' as const), at: fc.integer({ min: 1, max: original.length - 2 }) }),
          fc.record({ kind: fc.constant('swap' as const), at: fc.integer({ min: 0, max: original.length - 2 }) }),
        ),
        async (t) => {
          const copy = [...original];
          // line i holds event i + 1
          const touched = t.at + 1;
          let expected: { firstBadSeq: number; problem: string };
          if (t.kind === 'edit' || t.kind === 'edit-and-rehash') {
            const line = JSON.parse(copy[t.at] as string) as { event: Record<string, unknown>; hash: string };
            const field = t.kind === 'edit' ? t.field : 'reason';
            if (field === 'actor') line.event.actor = { kind: 'user', subject: 'mallory' };
            else if (field === 'outcome') line.event.outcome = line.event.outcome === 'success' ? 'denied' : 'success';
            else if (field === 'details') line.event.details = { ...(line.event.details as object), forged: true };
            else line.event[field] = `${String(line.event[field] ?? '')}x`;
            // re-hashed, the edited event holds; the next one's link to it does not
            if (t.kind === 'edit-and-rehash') line.hash = sha256Hex(canonicalJson(line.event));
            copy[t.at] = JSON.stringify(line);
            expected =
              t.kind === 'edit'
                ? { firstBadSeq: touched, problem: 'content does not match its hash' }
                : { firstBadSeq: touched + 1, problem: 'previous hash does not match the chain' };
          } else if (t.kind === 'remove') {
            copy.splice(t.at, 1);
            expected = { firstBadSeq: touched, problem: `event ${touched} is missing` };
          } else {
            [copy[t.at], copy[t.at + 1]] = [copy[t.at + 1] as string, copy[t.at] as string];
            // swapped first two lines: the export starts (mid-chain) at event 2, and event 1 comes after it
            expected = { firstBadSeq: touched, problem: t.at === 0 ? 'event 1 is out of order' : `event ${touched} is missing` };
          }
          const r = await verifyText(copy.join('\n') + '\n');
          expect(r).toMatchObject({ ok: false, ...expected });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a forged checkpoint signature is caught with the key, though the forger re-hashed and re-linked every line after it', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body);
    const events = eventsOf(jsonl);
    const at = events.findIndex((e) => e.action === 'audit.checkpoint');
    const forged = events[at] as ExportedEvent;
    // Re-signing needs the private key: the forger writes a signature of their own and re-hashes from there on.
    const edited = events.map((e, i) => (i === at ? { ...e, details: { ...e.details, signature: Buffer.alloc(64, 1).toString('base64url') } } : e));
    const text = lines(jsonl).slice(0, at).join('\n') + '\n' + rechain(edited.slice(at), forged.seq, forged.prevHash);
    // every hash and link holds: only the signature can give it away
    expect(await verifyText(text)).toMatchObject({ ok: true, events: events.length });
    expect(await verifyText(text, { checkpointKey: key })).toMatchObject({ ok: false, firstBadSeq: forged.seq, problem: 'checkpoint signature does not verify' });
  });

  it('an export rewritten wholesale, every event edited and the whole chain re-hashed, is caught by a checkpoint signature', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set(bearer(auditor))).body);
    const events = eventsOf(jsonl);
    const rewritten = rechain(events.map((e) => ({ ...e, reason: 'nothing to see here', outcome: 'success' })));
    expect(await verifyText(rewritten)).toMatchObject({ ok: true, events: events.length, fromStart: true });
    const firstCheckpoint = events.find((e) => e.action === 'audit.checkpoint') as ExportedEvent;
    expect(await verifyText(rewritten, { checkpointKey: key })).toMatchObject({
      ok: false,
      firstBadSeq: firstCheckpoint.seq,
      problem: 'checkpoint signature does not verify',
    });
  });

  it('an anchor an auditor kept catches an export cut short', async () => {
    const all = lines(jsonl);
    const last = JSON.parse(all.at(-1) as string) as { event: { seq: number }; hash: string };
    const anchor = { seq: last.event.seq, hash: last.hash };
    expect((await verifyText(jsonl, { anchor })).ok).toBe(true);
    const cut = await verifyText(all.slice(0, -3).join('\n'), { anchor });
    expect(cut).toMatchObject({ ok: false, problem: expect.stringMatching(/before the anchor/) });
  });

  it('only auditors export; the export is audited with who and what range', async () => {
    expect((await s.h.api.get('/v1/audit/export').set(bearer(s.tokens.admin))).status).toBe(403);
    expect((await s.h.api.get('/v1/audit/export?format=xml').set(bearer(auditor))).status).toBe(400);
    const exported = await s.h.audit.query({ action: 'audit.exported', limit: 10 });
    expect(exported.items[0]).toMatchObject({ actor: { subject: 'dave' }, details: { format: 'jsonl', from: null, to: null } });
  });

  it('checkpoints come every N events, vouch for the head before them, and are recorded beside the database', async () => {
    const cps = await s.h.audit.query({ action: 'audit.checkpoint', limit: 50 });
    expect(cps.items.length).toBeGreaterThanOrEqual(2);
    for (const c of cps.items) {
      expect(c.details).toMatchObject({ checkpointSeq: c.seq - 1, checkpointHash: c.prevHash, keyId: s.h.checkpointSigner.keyId });
    }
    const now = await s.h.checkpoints.checkpointNow();
    expect(now.seq).toBe((await s.h.audit.head()).seq - 1);
    // nothing happened since: no new checkpoint, however long
    s.h.clock.advance(60 * 60 * 1000);
    expect(await s.h.checkpoints.checkpointIfDue()).toBeUndefined();
    // one event, and the interval (15 min) has passed: a checkpoint
    await s.h.api.get('/v1/devices').set(bearer(await s.h.token('admin-1', ['admin'])));
    await s.h.api.get('/v1/devices/nope');
    expect(await s.h.checkpoints.checkpointIfDue()).toBeDefined();
    expect(await s.h.checkpoints.checkNotRolledBack()).toBeUndefined();
  });
});

describe('when the daemon signs a checkpoint (audit.checkpoint.everyEvents, .every)', () => {
  it('not before N events or M minutes; at the Nth event; after M minutes with at least one event; never with none', async () => {
    const h = await createTestApp({ JITBROKER_AUDIT_CHECKPOINT_EVERY_EVENTS: '5', JITBROKER_AUDIT_CHECKPOINT_EVERY: 'PT10M' });
    const appendEvents = async (n: number) => {
      for (let i = 0; i < n; i++) {
        // A filler event: an action the broker never writes, outside the catalogue on purpose.
        await h.transactor.run((tx) => h.audit.append(tx, { actor: { kind: 'system', subject: 'test' }, action: 'test.event' as AuditAction, outcome: 'success' }));
      }
    };
    const minute = 60 * 1000;
    try {
      await appendEvents(1);
      const baseline = await h.checkpoints.checkpointNow();

      // N - 1 events, and just short of M minutes: not yet
      await appendEvents(4);
      expect(await h.checkpoints.checkpointIfDue()).toBeUndefined();
      h.clock.advance(10 * minute - 1000);
      expect(await h.checkpoints.checkpointIfDue()).toBeUndefined();
      // the Nth event since the last checkpoint: one, vouching for the head
      await appendEvents(1);
      const byCount = await h.checkpoints.checkpointIfDue();
      expect(byCount).toMatchObject({ seq: baseline.seq + 1 + 5, hash: (await h.audit.hashAt(baseline.seq + 1 + 5)) as string });
      expect(await h.checkpoints.checkpointIfDue()).toBeUndefined();

      // one event: nothing until M minutes after the last checkpoint, then one
      await appendEvents(1);
      h.clock.advance(10 * minute - 1);
      expect(await h.checkpoints.checkpointIfDue()).toBeUndefined();
      h.clock.advance(1);
      const byTime = await h.checkpoints.checkpointIfDue();
      expect(byTime).toMatchObject({ seq: (byCount?.seq ?? 0) + 2 });

      // no event since: none, however long
      h.clock.advance(24 * 60 * minute);
      expect(await h.checkpoints.checkpointIfDue()).toBeUndefined();
      const all = await h.audit.query({ action: 'audit.checkpoint', limit: 10 });
      expect(all.items.map((c) => c.details?.checkpointSeq)).toEqual([baseline.seq, byCount?.seq, byTime?.seq]);
    } finally {
      await h.close();
    }
  });
});
