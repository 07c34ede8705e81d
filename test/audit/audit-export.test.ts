import { Readable } from 'node:stream';
import fc from 'fast-check';
import { verifyExport } from '../../src/audit/audit-export';
import { checkpointKeyFromJwk } from '../../src/audit/checkpoint-signer';
import { Scenario, createScenario, requestGrant } from '../support/scenario';

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const verifyText = (text: string, opts: Parameters<typeof verifyExport>[1] = {}) => verifyExport(Readable.from([text]), opts);

describe('audit export, offline verification and signed checkpoints', () => {
  let s: Scenario;
  let auditor: string;
  let jsonl: string;
  beforeAll(async () => {
    s = await createScenario({}, { JITBROKER_AUDIT_CHECKPOINT_EVERY_EVENTS: '10' });
    auditor = await s.h.token('dave', ['auditor']);
    for (let i = 0; i < 5; i++) {
      const g = await requestGrant(s, s.tokens.alice, { reason: `case ${i}` });
      await s.h.api.get(`/v1/grants/${g.id}/password`).set('authorization', `Bearer ${s.tokens.alice}`).expect(200);
      await s.h.api.post(`/v1/grants/${g.id}/revoke`).set('authorization', `Bearer ${s.tokens.alice}`).send({}).expect(200);
      await s.h.checkpoints.checkpointIfDue();
      s.h.clock.advance(60 * 1000);
    }
    const res = await s.h.api.get('/v1/audit/export?format=jsonl').set('authorization', `Bearer ${auditor}`);
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
    const key = (await s.h.api.get('/v1/audit/checkpoint-key').set('authorization', `Bearer ${auditor}`)).body;
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(key.d).toBeUndefined();
    const r = await verifyText(jsonl, { checkpointKey: checkpointKeyFromJwk(key) });
    expect(r).toMatchObject({ ok: true, events: head.seq, headHash: head.hash, firstSeq: 1 });
    expect(r.checkpoints).toBeGreaterThanOrEqual(2);
  });

  it('a time range exports a part of the chain that verifies from its first event', async () => {
    const events = lines(jsonl).map((l) => JSON.parse(l).event as { seq: number; at: string });
    const from = events[10]!.at;
    const res = await s.h.api.get(`/v1/audit/export?from=${encodeURIComponent(from)}`).set('authorization', `Bearer ${auditor}`);
    const part = lines(res.text);
    expect(JSON.parse(part[0] as string).event.at >= from).toBe(true);
    const r = await verifyText(res.text);
    expect(r.ok).toBe(true);
    expect(r.firstSeq).toBeGreaterThan(1);
  });

  it('CSV: a header, the indexed fields, and the event as hashed in the last column', async () => {
    const res = await s.h.api.get('/v1/audit/export?format=csv').set('authorization', `Bearer ${auditor}`);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = res.text.split('\r\n').filter((l) => l !== '');
    expect(rows[0]).toBe('seq,at,actor,action,outcome,device_id,target,request_id,prev_hash,hash,event');
    expect(rows[1]).toMatch(/^1,[^,]+,admin-1,device\.enrolled,success,laptop-7,version:1,[^,]*,0{64},[0-9a-f]{64},"\{""action"":""device\.enrolled""/);
  });

  it('any edit of an export, a removed or swapped line, is caught offline and the first bad event named', async () => {
    const original = lines(jsonl);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant('edit' as const), at: fc.nat(original.length - 1), field: fc.constantFrom('reason', 'outcome', 'actor', 'at', 'details') }),
          fc.record({ kind: fc.constant('remove' as const), at: fc.integer({ min: 1, max: original.length - 2 }) }),
          fc.record({ kind: fc.constant('swap' as const), at: fc.integer({ min: 0, max: original.length - 2 }) }),
        ),
        async (t) => {
          const copy = [...original];
          if (t.kind === 'edit') {
            const line = JSON.parse(copy[t.at] as string) as { event: Record<string, unknown>; hash: string };
            if (t.field === 'actor') line.event.actor = { kind: 'user', subject: 'mallory' };
            else if (t.field === 'outcome') line.event.outcome = line.event.outcome === 'success' ? 'denied' : 'success';
            else if (t.field === 'details') line.event.details = { ...(line.event.details as object), forged: true };
            else line.event[t.field] = `${String(line.event[t.field] ?? '')}x`;
            copy[t.at] = JSON.stringify(line);
          } else if (t.kind === 'remove') copy.splice(t.at, 1);
          else [copy[t.at], copy[t.at + 1]] = [copy[t.at + 1] as string, copy[t.at] as string];
          const r = await verifyText(copy.join('\n') + '\n');
          const touched = t.at + 1;
          return r.ok === false && r.firstBadSeq !== undefined && r.firstBadSeq <= touched + 1;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a forged checkpoint signature is caught with the key', async () => {
    const key = checkpointKeyFromJwk((await s.h.api.get('/v1/audit/checkpoint-key').set('authorization', `Bearer ${auditor}`)).body);
    const copy = lines(jsonl).map((l) => {
      const line = JSON.parse(l) as { event: { action: string; details: { signature: string } } };
      return line.event.action === 'audit.checkpoint' ? { ...line, forge: true } : line;
    });
    // Re-signing needs the private key; the forger changes the signature and re-hashes the event as far as the chain allows.
    const first = copy.findIndex((l) => 'forge' in l);
    const target = copy[first] as { event: { details: { signature: string } } };
    target.event.details.signature = Buffer.alloc(64, 1).toString('base64url');
    const text = copy.map((l) => JSON.stringify({ event: (l as { event: unknown }).event, hash: (l as unknown as { hash: string }).hash })).join('\n');
    const r = await verifyText(text, { checkpointKey: key });
    expect(r.ok).toBe(false);
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
    expect((await s.h.api.get('/v1/audit/export').set('authorization', `Bearer ${s.tokens.admin}`)).status).toBe(403);
    expect((await s.h.api.get('/v1/audit/export?format=xml').set('authorization', `Bearer ${auditor}`)).status).toBe(400);
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
    await s.h.api.get('/v1/devices').set('authorization', `Bearer ${await s.h.token('admin-1', ['admin'])}`);
    await s.h.api.get('/v1/devices/nope');
    expect(await s.h.checkpoints.checkpointIfDue()).toBeDefined();
    expect(await s.h.checkpoints.checkNotRolledBack()).toBeUndefined();
  });
});
