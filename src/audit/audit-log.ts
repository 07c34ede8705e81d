import { performance } from 'node:perf_hooks';
import { Insertable, sql } from 'kysely';
import { Db } from '../store/database';
import { isPostgres } from '../store/dialect';
import { advisoryKey } from '../store/job-lock';
import { splitPage } from '../store/paging';
import { prepareQuery } from '../store/prepared-query';
import { AuditEventTable } from '../store/schema';
import { Tx, transactionScratch } from '../store/transactor';
import { Clock } from '../time/clock';
import { ChainLink, VerifyResult, actorColumn, createChainVerifier } from './audit-chain';
import { AuditEvent, AuditInput, canonicalJson, genesisHash, sha256Hex } from './audit-event';
import { chainLinkOf } from './stored-chain';

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

export type { VerifyResult } from './audit-chain';

interface Head {
  seq: number;
  hash: string;
  at: string;
}

const headKey = 'audit.head';
const pageSize = 1000;
/** Every daemon on one PostgreSQL database takes this transaction lock before it reads the chain head. */
const chainLockKey = advisoryKey('audit-chain');

/** The hash-chained, append-only audit log. */
export function createAuditLog(deps: { db: Db; clock: Clock; /** Told how long each append took (a metrics hook). */ onAppend?: (seconds: number) => void }) {
  const { db, clock } = deps;
  const pg = isPostgres(db);
  // The highest seq a query may name: PostgreSQL's seq is a 32-bit integer and refuses a larger parameter.
  const maxSeq = pg ? 2147483647 : Number.MAX_SAFE_INTEGER;
  // Every request appends: both statements are prepared once.
  const readHead = prepareQuery(db, (d) => d.selectFrom('audit_events').select(['seq', 'hash', 'at']).orderBy('seq', 'desc').limit(1));
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
  const page = prepareQuery(db, (d, p: { after: number; until: number; limit: number }) =>
    d.selectFrom('audit_events').selectAll().where('seq', '>', p.after).where('seq', '<=', p.until).orderBy('seq').limit(p.limit),
  );

  /**
   * Appends one event inside the caller's transaction, chained to the head it reads there. The
   * head is read once per transaction and then carried forward: appends are serialised by the
   * transaction, so no other writer can move it in between. On PostgreSQL several daemons append
   * to one chain: the first append of a transaction takes a transaction-scoped advisory lock before
   * it reads the head (READ COMMITTED: the read sees every append committed before the lock was
   * granted), and holds it to the commit, so the appends of all daemons form one total order. Times never go backwards along the
   * chain (a clock stepped back gives the previous event's time), so a time range is a seq range.
   */
  async function append(tx: Tx, input: AuditInput): Promise<StoredAuditEvent> {
    if (!deps.onAppend) return appendEvent(tx, input);
    const start = performance.now();
    try {
      return await appendEvent(tx, input);
    } finally {
      deps.onAppend((performance.now() - start) / 1000);
    }
  }

  /**
   * On PostgreSQL, takes the chain's transaction lock (as an append does) so that a head read next
   * in `tx` stays the head until the commit; a no-op on SQLite, whose writers are serialised anyway.
   */
  async function lockChain(tx: Tx): Promise<void> {
    if (pg) await sql`SELECT pg_advisory_xact_lock(${chainLockKey}::bigint)`.execute(tx);
  }

  async function appendEvent(tx: Tx, input: AuditInput): Promise<StoredAuditEvent> {
    const scratch = transactionScratch(tx);
    let head = scratch.get(headKey) as Head | undefined;
    if (!head) {
      await lockChain(tx);
      head = (await readHead(tx, {}))[0];
    }
    const now = clock.now().toISOString();
    const at = head && head.at > now ? head.at : now;
    const event: AuditEvent = { ...input, seq: (head?.seq ?? 0) + 1, at, prevHash: head?.hash ?? genesisHash };
    const canonical = canonicalJson(event);
    const hash = sha256Hex(canonical);
    await insertEvent(tx, {
      seq: event.seq,
      at: event.at,
      actor: actorColumn(input),
      action: input.action,
      outcome: input.outcome,
      device_id: input.deviceId ?? null,
      target: input.target ?? null,
      request_id: input.context?.requestId ?? null,
      canonical,
      prev_hash: event.prevHash,
      hash,
    });
    scratch.set(headKey, { seq: event.seq, hash, at });
    return { ...event, hash };
  }

  const firstAtOrAfter = prepareQuery(db, (d, p: { from: string }) => d.selectFrom('audit_events').select('seq').where('at', '>=', p.from).orderBy('at').orderBy('seq').limit(1));
  const lastBefore = prepareQuery(db, (d, p: { to: string }) =>
    d.selectFrom('audit_events').select('seq').where('at', '<', p.to).orderBy('at', 'desc').orderBy('seq', 'desc').limit(1),
  );

  /** The seq range of a time range: two index lookups, since times follow seq order. */
  async function seqRange(from?: string, to?: string): Promise<{ after: number; until: number }> {
    let after = 0;
    let until = maxSeq;
    if (from) {
      const [r] = await firstAtOrAfter(db, { from });
      after = r ? r.seq - 1 : maxSeq;
    }
    if (to) {
      const [r] = await lastBefore(db, { to });
      until = r ? r.seq : 0;
    }
    return { after, until };
  }

  type Filters = Pick<AuditQuery, 'actor' | 'deviceId' | 'action' | 'outcome' | 'requestId'>;
  type PageParams = Required<Filters> & { after: number; until: number; limit: number };
  const filterColumns = { actor: 'actor', deviceId: 'device_id', action: 'action', outcome: 'outcome', requestId: 'request_id' } as const;
  // One prepared query per combination of filters (at most 32): building the query cost more than running it.
  const shapes = new Map<string, (q: Db, p: PageParams) => Promise<Array<{ seq: number; canonical: string; hash: string }>>>();
  function shapeFor(present: Array<keyof Filters>) {
    const key = present.join(',');
    let run = shapes.get(key);
    if (!run) {
      run = prepareQuery(db, (d, p: PageParams) => {
        let sel = d.selectFrom('audit_events').select(['seq', 'canonical', 'hash']).where('seq', '>', p.after).where('seq', '<=', p.until);
        for (const f of present) sel = sel.where(filterColumns[f], '=', p[f] as never);
        return sel.orderBy('seq', 'asc').limit(p.limit);
      });
      shapes.set(key, run);
    }
    return run;
  }

  /** One page of stored rows, oldest first, after the cursor's sequence number. Every filter reads an index. */
  async function pageRows(q: AuditQuery) {
    const range = await seqRange(q.from, q.to);
    const present = (Object.keys(filterColumns) as Array<keyof Filters>).filter((f) => q[f] !== undefined);
    const rows = await shapeFor(present)(db, {
      actor: q.actor ?? '',
      deviceId: q.deviceId ?? '',
      action: q.action ?? '',
      outcome: q.outcome ?? '',
      requestId: q.requestId ?? '',
      after: Math.min(Math.max(range.after, q.afterSeq ?? 0), maxSeq),
      until: range.until,
      limit: q.limit + 1,
    });
    const { items, last } = splitPage(rows, q.limit);
    return { rows: items, nextSeq: last?.seq ?? null };
  }

  const aboutTarget = prepareQuery(db, (d, p: { deviceId: string; target: string; after: number; limit: number }) =>
    d
      .selectFrom('audit_events')
      .select(['seq', 'canonical', 'hash'])
      .where('device_id', '=', p.deviceId)
      .where('target', '=', p.target)
      .where('seq', '>', p.after)
      .orderBy('seq')
      .limit(p.limit),
  );

  /**
   * Every event about one target on one device (a grant's), oldest first, from `from` on: read along
   * the device's index from that time, a page at a time, so a device's older history is never read.
   */
  async function eventsAbout(deviceId: string, target: string, from?: string): Promise<StoredAuditEvent[]> {
    let { after } = await seqRange(from);
    const out: StoredAuditEvent[] = [];
    for (;;) {
      const rows = await aboutTarget(db, { deviceId, target, after, limit: pageSize });
      out.push(...rows.map((r) => ({ ...(JSON.parse(r.canonical) as AuditEvent), hash: r.hash })));
      const last = rows[rows.length - 1];
      if (rows.length < pageSize || !last) return out;
      after = last.seq;
    }
  }

  /** One page of events, parsed. */
  async function query(q: AuditQuery): Promise<{ items: StoredAuditEvent[]; nextSeq: number | null }> {
    const { rows, nextSeq } = await pageRows(q);
    return { items: rows.map((r) => ({ ...(JSON.parse(r.canonical) as AuditEvent), hash: r.hash })), nextSeq };
  }

  /**
   * One page of events as JSON text for the API: each stored event as it was hashed, with its hash
   * added, never parsed and re-serialised (that was most of the cost of a page).
   */
  async function queryJson(q: AuditQuery): Promise<{ itemsJson: string; nextSeq: number | null }> {
    const { rows, nextSeq } = await pageRows(q);
    return { itemsJson: `[${rows.map((r) => `${r.canonical.slice(0, -1)},"hash":"${r.hash}"}`).join(',')}]`, nextSeq };
  }

  /**
   * The chain's links in order, a page at a time: each page is a short query, so a walk over a
   * million events neither holds the database nor grows in memory, and requests run in between.
   */
  async function* links(opts: { from?: string; to?: string } = {}): AsyncGenerator<ChainLink> {
    const range = await seqRange(opts.from, opts.to);
    let after = range.after;
    for (;;) {
      const rows = await page(db, { after, until: range.until, limit: pageSize });
      for (const r of rows) yield chainLinkOf(r);
      if (rows.length < pageSize) return;
      after = (rows[rows.length - 1] as { seq: number }).seq;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Walks the chain from the first event; names the first sequence number that does not hold.
   * With an anchor (a head an auditor noted earlier), a log cut short or rolled back below it
   * fails too; with the checkpoint key, every checkpoint's signature is checked.
   */
  async function verify(opts: { anchor?: { seq: number; hash: string }; checkpointKey?: import('node:crypto').KeyObject } = {}): Promise<VerifyResult> {
    const verifier = createChainVerifier(opts);
    for await (const link of links()) {
      const failed = verifier.push(link);
      if (failed) return failed;
    }
    return verifier.finish();
  }

  async function head(): Promise<{ seq: number; hash: string }> {
    const h = (await readHead(db, {}))[0];
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: genesisHash };
  }

  /** The event at a seq, as stored (for checking a checkpoint against the chain). */
  async function hashAt(seq: number): Promise<string | undefined> {
    return (await db.selectFrom('audit_events').select('hash').where('seq', '=', seq).executeTakeFirst())?.hash;
  }

  return { append, lockChain, query, queryJson, eventsAbout, links, verify, head, hashAt };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
