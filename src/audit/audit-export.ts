import crypto from 'node:crypto';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { ChainLink, VerifyResult, createChainVerifier } from './audit-chain';
import { AuditEvent, canonicalJson } from './audit-event';

export const exportFormats = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof exportFormats)[number];

const csvColumns = ['seq', 'at', 'actor', 'action', 'outcome', 'device_id', 'target', 'request_id', 'prev_hash', 'hash', 'event'] as const;

// What a spreadsheet reads as the start of a formula (OWASP, CSV injection): = + - @, and tab or CR,
// which some spreadsheets skip before looking for one.
const formulaStart = /^[=+\-@\t\r]/;

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. A field that
 * would start a formula (an actor, target or request id is partly a caller's text) is prefixed
 * with a single quote and quoted, so a spreadsheet shows it as text and never evaluates it. The
 * last column, the event as hashed, starts with `{` and is never changed.
 */
function csvField(v: string | number | null): string {
  let s = v === null ? '' : String(v);
  if (formulaStart.test(s)) s = `'${s}`;
  else if (!/[",\r\n]/.test(s)) return s;
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * The lines of an export, one event each, with its hashes, so the file is verifiable on its own.
 * JSONL: `{"event":<the event exactly as hashed>,"hash":"…"}`. CSV: the indexed fields for
 * spreadsheets, and the event as hashed in the last column.
 */
export async function* exportLines(links: AsyncIterable<ChainLink>, format: ExportFormat): AsyncGenerator<string> {
  if (format === 'csv') yield csvColumns.join(',') + '\r\n';
  for await (const l of links) {
    if (format === 'jsonl') {
      yield `{"event":${l.canonical},"hash":"${l.hash}"}\n`;
      continue;
    }
    const c = l.columns;
    yield (
      [l.seq, c?.at ?? '', c?.actor ?? '', c?.action ?? '', c?.outcome ?? '', c?.device_id ?? null, c?.target ?? null, c?.request_id ?? null, l.prevHash, l.hash, l.canonical]
        .map(csvField)
        .join(',') + '\r\n'
    );
  }
}

export interface ExportVerifyResult extends VerifyResult {
  /** The seq of the export's first event. */
  firstSeq?: number;
  /**
   * Whether the export starts at the chain's first event. One that does not (an export with from=,
   * or one whose leading lines were cut) is checked from its first event, whose predecessor is
   * taken on trust: nothing in the file can tell what came before it.
   */
  fromStart?: boolean;
}

/**
 * Verifies a JSONL export with no daemon and no database, reading it a line at a time: each
 * event re-serialised to its canonical form must match its hash, and the chain must hold from the
 * first line. With the checkpoint key every checkpoint's signature must verify and at least one
 * must vouch for the export's events (else a file rewritten end to end would pass); the result
 * says up to which event the signatures reach and how many events after it none does yet.
 */
export async function verifyExport(input: Readable, opts: { checkpointKey?: crypto.KeyObject; anchor?: { seq: number; hash: string } } = {}): Promise<ExportVerifyResult> {
  const verifier = createChainVerifier({ ...opts, startsMidway: true, requireCheckpoint: opts.checkpointKey !== undefined });
  let firstSeq: number | undefined;
  const where = () => (firstSeq === undefined ? {} : { firstSeq, fromStart: firstSeq === 1 });
  const refuse = (problem: string, firstBadSeq?: number): ExportVerifyResult => ({
    ok: false,
    ...verifier.progress(),
    ...(firstBadSeq === undefined ? {} : { firstBadSeq }),
    problem,
    ...where(),
  });
  let lineNo = 0;
  for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
    lineNo += 1;
    if (line.trim() === '') continue;
    let parsed: { event?: AuditEvent; hash?: unknown };
    try {
      parsed = JSON.parse(line) as { event?: AuditEvent; hash?: unknown };
    } catch {
      return refuse(`line ${lineNo} is not JSON`);
    }
    const e = parsed.event;
    if (!e || typeof e.seq !== 'number' || typeof e.prevHash !== 'string' || typeof parsed.hash !== 'string') {
      return refuse(`line ${lineNo} is not an exported event`);
    }
    firstSeq ??= e.seq;
    if (opts.anchor && firstSeq > opts.anchor.seq) {
      return refuse(`the export starts at event ${firstSeq}, after the anchor's event ${opts.anchor.seq}`, opts.anchor.seq);
    }
    const failed = verifier.push({ seq: e.seq, canonical: canonicalJson(e), prevHash: e.prevHash, hash: parsed.hash });
    if (failed) return { ...failed, ...where() };
  }
  return { ...verifier.finish(), ...where() };
}

/** What an offline verification does and does not prove, in sentences for the auditor reading it. */
export function exportVerifyNotes(r: ExportVerifyResult, withKey: boolean): string[] {
  const notes: string[] = [];
  if (r.firstSeq !== undefined && !r.fromStart) {
    notes.push(`the export starts at event ${r.firstSeq} and was checked from there: events before it are not in the file (an export with from=, or one cut at the start)`);
  }
  if (!withKey) notes.push('without --key the chain is checked against itself only: a file rewritten end to end, every hash recomputed, verifies too');
  else if (r.ok && r.signedThroughSeq) {
    notes.push(
      `events ${r.firstSeq ?? 1}-${r.signedThroughSeq} are vouched for by a checkpoint signature; ` +
        (r.unsignedEvents ? `the ${r.unsignedEvents} after them are not signed yet (the next checkpoint will)` : 'every event is'),
    );
  }
  return notes;
}
