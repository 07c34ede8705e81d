import crypto from 'node:crypto';
import { AuditAction } from './audit-actions';
import { AuditEvent, genesisHash, sha256Hex } from './audit-event';

/** One link of the chain as stored or exported: its content, exactly as hashed, and its hashes. */
export interface ChainLink {
  seq: number;
  canonical: string;
  prevHash: string;
  hash: string;
  /** The indexed copies of fields a database row keeps beside the content; absent in an export. */
  columns?: { at: string; actor: string; action: string; outcome: string; device_id: string | null; target: string | null; request_id: string | null };
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  headHash: string;
  /** Signed checkpoints whose signature was checked (only with a checkpoint key). */
  checkpoints?: number;
  /**
   * With a checkpoint key: the last event a checked signature vouches for (every checked event up
   * to it is bound to that signature by the chain); 0 when none is. A rewrite of the whole chain
   * with its hashes recomputed is caught up to here, and only up to here.
   */
  signedThroughSeq?: number;
  /** With a checkpoint key: the checked events after `signedThroughSeq`, which no signature vouches for yet. */
  unsignedEvents?: number;
  firstBadSeq?: number;
  problem?: string;
}

export const checkpointAction = 'audit.checkpoint' satisfies AuditAction;

/** What a checkpoint signs: the chain head it vouches for. */
export function checkpointMessage(seq: number, hash: string): Buffer {
  return Buffer.from(`jitbroker-audit-checkpoint:v1:${seq}:${hash}`, 'utf8');
}

export function actorColumn(e: Pick<AuditEvent, 'actor'>): string {
  return e.actor.kind === 'user' ? e.actor.subject : `${e.actor.kind}:${e.actor.subject}`;
}

/**
 * Checks links in order, from the first event: sequence without gaps, each content matching its
 * hash, each previous hash matching the link before, indexed columns matching the content,
 * checkpoint signatures (given the key) and an anchor (a head an auditor noted earlier). The
 * same checks serve the database and an export read offline.
 */
export function createChainVerifier(
  opts: {
    anchor?: { seq: number; hash: string };
    checkpointKey?: crypto.KeyObject;
    /** For a part of the chain (an export of a time range): trust the first link's place and check from there. */
    startsMidway?: boolean;
    /**
     * With the checkpoint key: fail unless a checked signature vouches for at least one checked
     * event. Without one, a file rewritten end to end, every hash recomputed, verifies as well as
     * the real one.
     */
    requireCheckpoint?: boolean;
  } = {},
) {
  let prev = genesisHash;
  let expected = 1;
  let firstSeq = 1;
  let started = !opts.startsMidway;
  let events = 0;
  let checkpoints = 0;
  let signedThroughSeq = 0;
  let failure: VerifyResult | undefined;
  const fail = (seq: number | undefined, problem: string): VerifyResult =>
    (failure = { ok: false, events, headHash: prev, ...(seq === undefined ? {} : { firstBadSeq: seq }), problem });

  function check(link: ChainLink): VerifyResult | undefined {
    if (!started) {
      started = true;
      expected = firstSeq = link.seq;
      // Only a part that starts after the first event takes its first link's predecessor on trust.
      if (link.seq !== 1) prev = link.prevHash;
    }
    if (link.seq !== expected) {
      return link.seq < expected ? fail(link.seq, `event ${link.seq} is out of order`) : fail(expected, `event ${expected} is missing`);
    }
    if (sha256Hex(link.canonical) !== link.hash) return fail(link.seq, 'content does not match its hash');
    if (link.prevHash !== prev) return fail(link.seq, 'previous hash does not match the chain');
    let e: AuditEvent;
    try {
      e = JSON.parse(link.canonical) as AuditEvent;
    } catch {
      return fail(link.seq, 'content is not JSON');
    }
    if (e.seq !== link.seq || e.prevHash !== link.prevHash) return fail(link.seq, 'sequence or previous hash differ from the hashed content');
    const c = link.columns;
    if (
      c &&
      !(
        e.at === c.at &&
        e.action === c.action &&
        e.outcome === c.outcome &&
        actorColumn(e) === c.actor &&
        (e.deviceId ?? null) === c.device_id &&
        (e.target ?? null) === c.target &&
        (e.context?.requestId ?? null) === c.request_id
      )
    ) {
      return fail(link.seq, 'indexed columns differ from the hashed content');
    }
    if (e.action === checkpointAction && opts.checkpointKey) {
      const d = e.details ?? {};
      const signature = typeof d.signature === 'string' ? Buffer.from(d.signature, 'base64url') : Buffer.alloc(0);
      const vouches = d.checkpointSeq === link.seq - 1 && d.checkpointHash === link.prevHash;
      if (!vouches || !crypto.verify(null, checkpointMessage(link.seq - 1, link.prevHash), opts.checkpointKey, signature)) {
        return fail(link.seq, 'checkpoint signature does not verify');
      }
      checkpoints += 1;
      // It vouches for the link before it, and through the chain for every checked link before that.
      if (link.seq - 1 >= firstSeq) signedThroughSeq = link.seq - 1;
    }
    if (opts.anchor && link.seq === opts.anchor.seq && link.hash !== opts.anchor.hash) return fail(link.seq, 'event differs from the anchor');
    prev = link.hash;
    expected += 1;
    events += 1;
    return undefined;
  }

  return {
    /** The events checked so far and the hash of the last. */
    progress: (): Pick<VerifyResult, 'events' | 'headHash'> => ({ events, headHash: prev }),
    /** Adds the next link; returns the failure at the first that does not hold (and every later call returns it too). */
    push(link: ChainLink): VerifyResult | undefined {
      return failure ?? check(link);
    },
    finish(): VerifyResult {
      if (failure) return failure;
      if (opts.anchor && expected - 1 < opts.anchor.seq) {
        return fail(expected, `the log ends at ${expected - 1}, before the anchor's event ${opts.anchor.seq}: truncated or rolled back`);
      }
      if (!opts.checkpointKey) return { ok: true, events, headHash: prev };
      const lastSeq = expected - 1;
      const coverage = { checkpoints, signedThroughSeq, unsignedEvents: signedThroughSeq === 0 ? events : lastSeq - signedThroughSeq };
      if (opts.requireCheckpoint && signedThroughSeq === 0) {
        return {
          ...fail(undefined, `no checkpoint signed by this key vouches for any of the ${events} events: a chain rewritten with every hash recomputed would verify as well`),
          ...coverage,
        };
      }
      return { ok: true, events, headHash: prev, ...coverage };
    },
  };
}
