import crypto from 'node:crypto';
import { AuditLog } from '../audit/audit-log';
import { Db } from '../store/database';
import { RotationJobTable } from '../store/schema';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { CredentialService } from './credential-service';
import { credentialRepository } from './credential-repository';

/** The durable rotation queue: one open job per device; later requests merge into it. */
export function createRotationService(deps: {
  db: Db;
  transactor: Transactor;
  credentials: Pick<CredentialService, 'preparePassword' | 'recordPending'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
}) {
  const { db, transactor, credentials, audit, clock } = deps;

  /** Queues a rotation in the caller's transaction; returns the open job's id (new or merged into). */
  async function enqueue(tx: Tx, deviceId: string, reason: RotationJobTable['reason'], dueAt: Date): Promise<string> {
    const open = await tx.selectFrom('rotation_jobs').select(['id', 'due_at']).where('device_id', '=', deviceId).where('state', '=', 'open').executeTakeFirst();
    if (open) {
      // Merge: the earlier due time wins, so a forced rotation is never delayed by a scheduled one.
      if (dueAt.toISOString() < open.due_at) await tx.updateTable('rotation_jobs').set({ due_at: dueAt.toISOString(), reason }).where('id', '=', open.id).execute();
      return open.id;
    }
    const id = crypto.randomUUID();
    await tx
      .insertInto('rotation_jobs')
      .values({ id, device_id: deviceId, reason, due_at: dueAt.toISOString(), attempts: 0, last_error: null, state: 'open', created_at: clock.now().toISOString() })
      .execute();
    return id;
  }

  /** Runs every due job once: a new pending password per device, unless one is already waiting for its agent. */
  async function runDueJobs(limit = 50): Promise<number> {
    const now = clock.now().toISOString();
    const due = await db.selectFrom('rotation_jobs').selectAll().where('state', '=', 'open').where('due_at', '<=', now).orderBy('due_at').limit(limit).execute();
    for (const job of due) {
      const pending = await credentialRepository.inState(db, job.device_id, 'pending');
      try {
        // A pending password nobody has seen already replaces what was used: the job is satisfied.
        const prepared = pending ? undefined : await credentials.preparePassword(job.device_id, job.reason);
        await transactor.run(async (tx) => {
          if (prepared) await credentials.recordPending(tx, prepared);
          await tx
            .updateTable('rotation_jobs')
            .set({ state: 'done', attempts: job.attempts + 1 })
            .where('id', '=', job.id)
            .where('state', '=', 'open')
            .execute();
          await audit.append(tx, {
            actor: { kind: 'system', subject: 'rotation' },
            action: 'credential.rotation-started',
            outcome: 'success',
            deviceId: job.device_id,
            target: prepared ? `version:${prepared.version}` : `version:${pending?.version ?? 'none'}`,
            details: { reason: job.reason, job: job.id, merged: prepared === undefined },
          });
        });
      } catch (e) {
        // Stays open and is retried on the next run (backoff arrives with the rotation issue).
        await db
          .updateTable('rotation_jobs')
          .set({ attempts: job.attempts + 1, last_error: String((e as Error).message).slice(0, 500) })
          .where('id', '=', job.id)
          .execute();
      }
    }
    return due.length;
  }

  return { enqueue, runDueJobs };
}

export type RotationService = ReturnType<typeof createRotationService>;
