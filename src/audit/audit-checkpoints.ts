import fs from 'node:fs';
import path from 'node:path';
import { Logger } from 'pino';
import { writeFileAtomic } from '../files/atomic-file';
import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { checkpointAction, checkpointMessage } from './audit-chain';
import { AuditLog } from './audit-log';
import { CheckpointSigner } from './checkpoint-signer';

export interface Checkpoint {
  /** The head the checkpoint vouches for; the checkpoint event itself is seq + 1. */
  seq: number;
  hash: string;
  signature: string;
  keyId: string;
  at: string;
}

const recordFileName = 'audit-checkpoint.json';

/**
 * Signed checkpoints of the chain head, every `everyEvents` events or `everySeconds` (whichever
 * first, and only when the chain moved). Each is appended to the chain itself and recorded in a
 * file beside the database, so a database restored from an older copy, or cut short, is caught at
 * start-up; auditors keep checkpoints of their own to catch it when the whole data dir went back.
 */
export function createAuditCheckpoints(deps: {
  db: Db;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append' | 'head' | 'hashAt'> & Partial<Pick<AuditLog, 'lockChain'>>;
  signer: CheckpointSigner;
  clock: Clock;
  dataDir: string;
  logger: Logger;
  settings: { everyEvents: number; everySeconds: number };
}) {
  const { transactor, audit, signer, clock } = deps;
  const recordFile = path.join(deps.dataDir, recordFileName);

  async function latest(): Promise<Checkpoint | undefined> {
    const row = await deps.db.selectFrom('audit_events').select(['canonical']).where('action', '=', checkpointAction).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    if (!row) return undefined;
    const e = JSON.parse(row.canonical) as { at: string; details: { checkpointSeq: number; checkpointHash: string; signature: string; keyId: string } };
    return { seq: e.details.checkpointSeq, hash: e.details.checkpointHash, signature: e.details.signature, keyId: e.details.keyId, at: e.at };
  }

  /** Signs the current head and appends the checkpoint, in one transaction; records it beside the database. */
  async function checkpointNow(): Promise<Checkpoint> {
    const checkpoint = await transactor.run(async (tx) => {
      // The head read inside the transaction: the checkpoint event is the very next link (on
      // PostgreSQL under the chain's lock, so no other daemon appends in between).
      await audit.lockChain?.(tx);
      const head = await tx.selectFrom('audit_events').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      const seq = head?.seq ?? 0;
      const hash = head?.hash ?? '0'.repeat(64);
      const signature = signer.sign(checkpointMessage(seq, hash));
      const event = await audit.append(tx, {
        actor: { kind: 'system', subject: 'audit' },
        action: checkpointAction,
        outcome: 'success',
        target: `seq:${seq}`,
        details: { checkpointSeq: seq, checkpointHash: hash, signature, keyId: signer.keyId },
      });
      return { seq, hash, signature, keyId: signer.keyId, at: event.at };
    });
    writeFileAtomic(recordFile, JSON.stringify(checkpoint) + '\n');
    return checkpoint;
  }

  /** The scheduled job: a checkpoint when enough events or time have passed since the last one. */
  async function checkpointIfDue(): Promise<Checkpoint | undefined> {
    const [last, head] = await Promise.all([latest(), audit.head()]);
    // The checkpoint event itself moves the head by one: nothing else happened since.
    const since = last ? head.seq - (last.seq + 1) : head.seq;
    if (since <= 0) return undefined;
    const age = last ? (clock.now().getTime() - Date.parse(last.at)) / 1000 : Infinity;
    if (since < deps.settings.everyEvents && age < deps.settings.everySeconds) return undefined;
    return checkpointNow();
  }

  /**
   * At start-up: the database must still hold the last checkpoint recorded beside it. If it does
   * not, it was restored from an older copy or cut short, and events (reveals among them) are gone.
   */
  async function checkNotRolledBack(): Promise<string | undefined> {
    if (!fs.existsSync(recordFile)) return undefined;
    const recorded = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as Checkpoint;
    const stored = await audit.hashAt(recorded.seq);
    if (stored === recorded.hash) return undefined;
    const head = await audit.head();
    return (
      `the audit log ends at event ${head.seq} but its last signed checkpoint (${recordFileName}, ${recorded.at}) vouches for event ${recorded.seq} ` +
      `with hash ${recorded.hash.slice(0, 12)}…: the database was restored from an older copy or cut short`
    );
  }

  return { latest, checkpointNow, checkpointIfDue, checkNotRolledBack };
}

export type AuditCheckpoints = ReturnType<typeof createAuditCheckpoints>;
