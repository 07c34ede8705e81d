import cron from 'node-cron';
import { Logger } from 'pino';

export interface Scheduler {
  every(name: string, expression: string, run: () => Promise<unknown>): void;
  stop(): void;
}

/** Runs a job's tick only where no other daemon runs the same job now (withJobLock); undefined when skipped. */
export type JobLock = (name: string, run: () => Promise<unknown>) => Promise<unknown>;

/**
 * node-cron jobs that skip a run while the previous one is still going. With `lock` (daemons that
 * share a PostgreSQL store), each tick runs under the job's lock: one daemon per tick runs it.
 */
export function createScheduler(logger: Logger, lock?: JobLock): Scheduler {
  const tasks: cron.ScheduledTask[] = [];
  return {
    every(name, expression, run) {
      let busy = false;
      tasks.push(
        cron.schedule(expression, () => {
          if (busy) return;
          busy = true;
          (lock ? lock(name, run) : run())
            .catch((err: unknown) => logger.error({ err, job: name }, 'scheduled job failed'))
            .finally(() => {
              busy = false;
            });
        }),
      );
    },
    stop() {
      tasks.forEach((t) => t.stop());
    },
  };
}

/** Every timed job, by name, in one place. */
export function scheduleJobs(
  s: Scheduler,
  d: {
    grants: { expireDueGrants(): Promise<number> };
    rotations: { enqueueDueRotations(): Promise<number>; runDueJobs(): Promise<number> };
    deviceIdentity: { pruneTokenIds(): Promise<void> };
    checkpoints: { checkpointIfDue(): Promise<unknown> };
    webhooks: { deliverDue(): Promise<number> };
    signIn: { prune(): Promise<number> };
  },
  opts: { rotationWorkerSeconds: number; rotationScanSeconds: number; webhookSeconds: number },
): Scheduler {
  s.every('expire-grants', '*/15 * * * * *', () => d.grants.expireDueGrants());
  // Reads only the devices that are due (the next_due index): cheap however large the fleet.
  s.every('enqueue-due-rotations', `*/${opts.rotationScanSeconds} * * * * *`, () => d.rotations.enqueueDueRotations());
  // Under its job lock like the others, though claims are safe without it (FOR UPDATE SKIP LOCKED):
  // a run claims a page of jobs under a lease, and a lease that ran out mid-page would let a second
  // daemon run jobs the first still holds. Spreading it needs per-lane claims and lease renewal.
  s.every('run-rotation-jobs', `*/${opts.rotationWorkerSeconds} * * * * *`, () => d.rotations.runDueJobs());
  s.every('prune-agent-token-ids', '*/10 * * * *', () => d.deviceIdentity.pruneTokenIds());
  s.every('audit-checkpoint', '*/20 * * * * *', () => d.checkpoints.checkpointIfDue());
  // Sign-ins abandoned at Entra's login page, and portal sessions that ended or expired a day ago.
  s.every('prune-portal-sessions', '*/10 * * * *', () => d.signIn.prune());
  s.every('deliver-webhooks', `*/${opts.webhookSeconds} * * * * *`, () => d.webhooks.deliverDue());
  return s;
}
