import crypto from 'node:crypto';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { ChainLink, VerifyResult, createChainVerifier } from './audit-chain';
import { AuditEvent, canonicalJson } from './audit-event';

export const exportFormats = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof exportFormats)[number];

const csvColumns = ['seq', 'at', 'actor', 'action', 'outcome', 'device_id', 'target', 'request_id', 'prev_hash', 'hash', 'event'] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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

/**
 * Verifies a JSONL export with no daemon and no database, reading it a line at a time: each
 * event re-serialised to its canonical form must match its hash, the chain must hold from the
 * first line, and with the checkpoint key every checkpoint's signature must verify.
 */
export async function verifyExport(
  input: Readable,
  opts: { checkpointKey?: crypto.KeyObject; anchor?: { seq: number; hash: string } } = {},
): Promise<VerifyResult & { firstSeq?: number }> {
  const verifier = createChainVerifier({ ...opts, startsMidway: true });
  let firstSeq: number | undefined;
  let lineNo = 0;
  for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
    lineNo += 1;
    if (line.trim() === '') continue;
    let parsed: { event?: AuditEvent; hash?: unknown };
    try {
      parsed = JSON.parse(line) as { event?: AuditEvent; hash?: unknown };
    } catch {
      return { ...verifier.finish(), ok: false, firstBadSeq: undefined, problem: `line ${lineNo} is not JSON` };
    }
    const e = parsed.event;
    if (!e || typeof e.seq !== 'number' || typeof e.prevHash !== 'string' || typeof parsed.hash !== 'string') {
      return { ...verifier.finish(), ok: false, problem: `line ${lineNo} is not an exported event` };
    }
    firstSeq ??= e.seq;
    if (opts.anchor && firstSeq > opts.anchor.seq)
      return {
        ...verifier.finish(),
        ok: false,
        firstSeq,
        firstBadSeq: opts.anchor.seq,
        problem: `the export starts at event ${firstSeq}, after the anchor's event ${opts.anchor.seq}`,
      };
    const failed = verifier.push({ seq: e.seq, canonical: canonicalJson(e), prevHash: e.prevHash, hash: parsed.hash });
    if (failed) return { ...failed, firstSeq };
  }
  return { ...verifier.finish(), firstSeq };
}
