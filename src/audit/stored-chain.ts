import { Kysely, Selectable } from 'kysely';
import { AuditEventTable, Database } from '../store/schema';
import { ChainLink, VerifyResult, createChainVerifier } from './audit-chain';

/** A stored event row as the verifier reads it: its canonical bytes, its hashes and the columns that must agree with them. */
export function chainLinkOf(
  r: Pick<Selectable<AuditEventTable>, 'seq' | 'canonical' | 'prev_hash' | 'hash' | 'at' | 'actor' | 'action' | 'outcome' | 'device_id' | 'target' | 'request_id'>,
): ChainLink {
  return {
    seq: r.seq,
    canonical: r.canonical,
    prevHash: r.prev_hash,
    hash: r.hash,
    columns: { at: r.at, actor: r.actor, action: r.action, outcome: r.outcome, device_id: r.device_id, target: r.target, request_id: r.request_id },
  };
}

/**
 * The chain's links as stored in any store (SQLite or PostgreSQL), oldest first, a page at a time.
 * Unlike the daemon's audit log this reads no prepared plans and no time ranges, so it runs on a
 * store no daemon has opened (a copy's target) and inside a transaction of one.
 */
export async function* storedChainLinks(db: Kysely<Database>, opts: { pageSize?: number } = {}): AsyncGenerator<ChainLink> {
  const pageSize = opts.pageSize ?? 1000;
  let after = 0;
  for (;;) {
    const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(pageSize).execute();
    for (const r of rows) yield chainLinkOf(r);
    if (rows.length < pageSize) return;
    after = (rows[rows.length - 1] as { seq: number }).seq;
  }
}

/** Walks the whole stored chain with the same verifier as the daemon and offline exports; names the first event that does not hold. */
export async function verifyStoredChain(db: Kysely<Database>, opts: { pageSize?: number } = {}): Promise<VerifyResult> {
  const verifier = createChainVerifier();
  for await (const link of storedChainLinks(db, opts)) {
    const failed = verifier.push(link);
    if (failed) return failed;
  }
  return verifier.finish();
}
