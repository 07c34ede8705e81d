import { requireRole } from '../identity/principal';
import type { UserPrincipal } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { decodeCursor, encodeCursor } from '../store/paging';
import type { Transactor } from '../store/transactor';
import { actorOf } from './actor';
import type { AuditCheckpoints, Checkpoint } from './audit-checkpoints';
import type { RequestContext } from './audit-event';
import { ExportFormat, exportLines } from './audit-export';
import type { AuditLog, AuditQuery } from './audit-log';
import type { CheckpointSigner } from './checkpoint-signer';

/** The filters of an events query, with the cursor of the page after which to read. */
export type EventsQuery = Omit<AuditQuery, 'afterSeq'> & { cursor?: string };

/**
 * What auditors do with the log: query, verify, take and read checkpoints, export. Every method is
 * for the auditor role only; the export is itself audited before its first line.
 */
export function createAuditService(deps: {
  audit: Pick<AuditLog, 'append' | 'queryJson' | 'verify' | 'links'>;
  transactor: Pick<Transactor, 'run'>;
  signer: Pick<CheckpointSigner, 'publicKey' | 'publicJwk'>;
  checkpoints: Pick<AuditCheckpoints, 'checkpointNow' | 'latest'>;
}) {
  const { audit } = deps;

  /** A page of events, oldest first, as JSON text (each event as it was hashed, with its hash). */
  async function queryEvents(p: UserPrincipal, q: EventsQuery): Promise<{ itemsJson: string; nextCursor: string | null }> {
    requireRole(p, 'auditor');
    const { cursor, ...filters } = q;
    const after = decodeCursor(cursor, ['number']);
    const page = await audit.queryJson({ ...filters, afterSeq: after?.[0] });
    return { itemsJson: page.itemsJson, nextCursor: page.nextSeq === null ? null : encodeCursor([page.nextSeq]) };
  }

  /** Walks the hash chain, checking the signed checkpoints on the way and, if given, that the anchor is still in it. */
  async function verifyLog(p: UserPrincipal, opts: { anchor?: { seq: number; hash: string } }) {
    requireRole(p, 'auditor');
    return audit.verify({ anchor: opts.anchor, checkpointKey: deps.signer.publicKey });
  }

  /** The public key checkpoints are signed with, to verify an export away from the daemon. */
  async function checkpointKey(p: UserPrincipal) {
    requireRole(p, 'auditor');
    return deps.signer.publicJwk;
  }

  /** Signs the chain head now: later, verify with it as the anchor catches a log cut short or restored. */
  async function signCheckpoint(p: UserPrincipal): Promise<Checkpoint> {
    requireRole(p, 'auditor');
    return deps.checkpoints.checkpointNow();
  }

  /** The last signed checkpoint; not-found before the first. */
  async function latestCheckpoint(p: UserPrincipal): Promise<Checkpoint> {
    requireRole(p, 'auditor');
    const latest = await deps.checkpoints.latest();
    if (!latest) throw new DomainError('not-found', 'No checkpoint has been signed yet.');
    return latest;
  }

  /**
   * The log's lines from `from` to `to`, each event as hashed with its hash, read a page at a time
   * as they are consumed (constant memory whatever the range). The export is audited before this
   * returns, so before its first byte leaves; when that append fails, nothing is exported.
   */
  async function exportLog(p: UserPrincipal, q: { format: ExportFormat; from?: string; to?: string }, ctx: RequestContext): Promise<AsyncIterable<string>> {
    requireRole(p, 'auditor');
    await deps.transactor.run(
      (tx) =>
        audit.append(tx, {
          actor: actorOf(p),
          action: 'audit.exported',
          outcome: 'success',
          details: { format: q.format, from: q.from ?? null, to: q.to ?? null },
          context: ctx,
        }),
      { singleWrite: true },
    );
    return exportLines(audit.links({ from: q.from, to: q.to }), q.format);
  }

  return { queryEvents, verifyLog, checkpointKey, signCheckpoint, latestCheckpoint, exportLog };
}

export type AuditService = ReturnType<typeof createAuditService>;
