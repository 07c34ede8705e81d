import cron from 'node-cron';
import { Logger } from 'pino';

export interface Scheduler {
  every(name: string, expression: string, run: () => Promise<unknown>): void;
  stop(): void;
}

/** node-cron jobs that skip a run while the previous one is still going. */
export function createScheduler(logger: Logger): Scheduler {
  const tasks: cron.ScheduledTask[] = [];
  return {
    every(name, expression, run) {
      let busy = false;
      tasks.push(
        cron.schedule(expression, () => {
          if (busy) return;
          busy = true;
          run()
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
  d: { grants: { expireDueGrants(): Promise<number> }; rotations: { runDueJobs(): Promise<number> }; deviceIdentity: { pruneTokenIds(): Promise<void> } },
): Scheduler {
  s.every('expire-grants', '*/15 * * * * *', () => d.grants.expireDueGrants());
  s.every('run-rotation-jobs', '*/5 * * * * *', () => d.rotations.runDueJobs());
  s.every('prune-agent-token-ids', '*/10 * * * *', () => d.deviceIdentity.pruneTokenIds());
  return s;
}
