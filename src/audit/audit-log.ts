import { Db } from '../store/database';
import { Insertable } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { AuditEventTable } from '../store/schema';
import { Tx, transactionScratch } from '../store/transactor';
import { Clock } from '../time/clock';
import { AuditEvent, AuditInput, canonicalJson, genesisHash, sha256Hex } from './audit-event';

export interface AuditQuery {
  actor?: string;
  deviceId?: string;
  action?: string;
  outcome?: string;
  requestId?: string;
  from?: string;
  to?: string;
  afterSeq?: number;
  limit: number;
}

export interface StoredAuditEvent extends AuditEvent {
  hash: string;
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  headHash: string;
  firstBadSeq?: number;
  problem?: string;
}

const headKey = 'audit.head';

function actorKey(e: AuditInput): string {
  return e.actor.kind === 'user' ? e.actor.subject : `${e.actor.kind}:${e.actor.subject}`;
}

/** The hash-chained, append-only audit log. */
export function createAuditLog(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  // Every request appends: both statements are prepared once.
  const readHead = prepareQuery(db, (d) => d.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
  const insertEvent = prepareQuery(db, (d, p: Insertable<AuditEventTable>) =>
    d.insertInto('audit_events').values({
      seq: p.seq,
      at: p.at,
      actor: p.actor,
      action: p.action,
      outcome: p.outcome,
      device_id: p.device_id,
      target: p.target,
      request_id: p.request_id,
      canonical: p.canonical,
      prev_hash: p.prev_hash,
      hash: p.hash,
    }),
  );

  /**
   * Appends one event inside the caller's transaction, chained to the head it reads there. The
   * head is read once per transaction and then carried forward: appends are serialised by the
   * transaction, so no other writer can move it in between.
   */
  async function append(tx: Tx, input: AuditInput): Promise<StoredAuditEvent> {
    const scratch = transactionScratch(tx);
    const head = (scratch.get(headKey) as { seq: number; hash: string } | undefined) ?? (await readHead(tx, {}))[0];
    const event: AuditEvent = { ...input, seq: (head?.seq ?? 0) + 1, at: clock.now().toISOString(), prevHash: head?.hash ?? genesisHash };
    const canonical = canonicalJson(event);
    const hash = sha256Hex(canonical);
    await insertEvent(tx, {
      seq: event.seq,
      at: event.at,
      actor: actorKey(input),
      action: input.action,
      outcome: input.outcome,
      device_id: input.deviceId ?? null,
      target: input.target ?? null,
      request_id: input.context?.requestId ?? null,
      canonical,
      prev_hash: event.prevHash,
      hash,
    });
    scratch.set(headKey, { seq: event.seq, hash });
    return { ...event, hash };
  }

  /** One page of events, oldest first, after the cursor's sequence number. */
  async function query(q: AuditQuery): Promise<{ items: StoredAuditEvent[]; nextSeq: number | null }> {
    let sel = db.selectFrom('audit_events').select(['seq', 'canonical', 'hash']);
    if (q.actor) sel = sel.where('actor', '=', q.actor);
    if (q.deviceId) sel = sel.where('device_id', '=', q.deviceId);
    if (q.action) sel = sel.where('action', '=', q.action);
    if (q.outcome) sel = sel.where('outcome', '=', q.outcome as StoredAuditEvent['outcome']);
    if (q.requestId) sel = sel.where('request_id', '=', q.requestId);
    if (q.from) sel = sel.where('at', '>=', q.from);
    if (q.to) sel = sel.where('at', '<', q.to);
    if (q.afterSeq !== undefined) sel = sel.where('seq', '>', q.afterSeq);
    const rows = await sel
      .orderBy('seq', 'asc')
      .limit(q.limit + 1)
      .execute();
    const page = rows.slice(0, q.limit).map((r) => ({ ...(JSON.parse(r.canonical) as AuditEvent), hash: r.hash }));
    return { items: page, nextSeq: rows.length > q.limit ? (page[page.length - 1]?.seq ?? null) : null };
  }

  /**
   * Walks the chain from the first event; names the first sequence number that does not hold.
   * With an anchor (a head an auditor noted earlier), a log cut short or rolled back below it fails too.
   */
  async function verify(anchor?: { seq: number; hash: string }): Promise<VerifyResult> {
    let prev = genesisHash;
    let expectedSeq = 1;
    let events = 0;
    const bad = (seq: number, problem: string): VerifyResult => ({ ok: false, events, headHash: prev, firstBadSeq: seq, problem });
    for await (const row of db.selectFrom('audit_events').selectAll().orderBy('seq', 'asc').stream(1000)) {
      if (row.seq !== expectedSeq) return bad(expectedSeq, `event ${expectedSeq} is missing`);
      if (sha256Hex(row.canonical) !== row.hash) return bad(row.seq, 'content does not match its hash');
      if (row.prev_hash !== prev) return bad(row.seq, 'previous hash does not match the chain');
      let e: AuditEvent;
      try {
        e = JSON.parse(row.canonical) as AuditEvent;
      } catch {
        return bad(row.seq, 'content is not JSON');
      }
      const columnsMatch =
        e.seq === row.seq &&
        e.prevHash === row.prev_hash &&
        e.at === row.at &&
        e.action === row.action &&
        e.outcome === row.outcome &&
        actorKey(e) === row.actor &&
        (e.deviceId ?? null) === row.device_id &&
        (e.target ?? null) === row.target &&
        (e.context?.requestId ?? null) === row.request_id;
      if (!columnsMatch) return bad(row.seq, 'indexed columns differ from the hashed content');
      if (anchor && row.seq === anchor.seq && row.hash !== anchor.hash) return bad(row.seq, 'event differs from the anchor');
      prev = row.hash;
      expectedSeq += 1;
      events += 1;
    }
    if (anchor && events < anchor.seq) return bad(events + 1, `the log ends at ${events}, before the anchor's event ${anchor.seq}: truncated or rolled back`);
    return { ok: true, events, headHash: prev };
  }

  async function head(): Promise<{ seq: number; hash: string }> {
    const h = await db.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return h ?? { seq: 0, hash: genesisHash };
  }

  return { append, query, verify, head };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
