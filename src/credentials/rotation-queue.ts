import { Db } from '../store/database';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { DeviceRepository } from '../devices/device-repository';
import { RotationJobRepository, RotationReason } from './rotation-job-repository';

/** What to rotate and when: the durable queue's producers (the schedule, post-use, an admin). */
export function createRotationQueue(deps: {
  db: Db;
  jobs: Pick<RotationJobRepository, 'openFor' | 'insert' | 'reschedule'>;
  devices: Pick<DeviceRepository, 'dueForRotation' | 'clearNextDue'>;
  transactor: Transactor;
  clock: Clock;
}) {
  const { db, jobs, devices, transactor, clock } = deps;

  /** Queues a rotation in the caller's transaction; a device's open job absorbs a second request, the earlier due time winning. */
  async function enqueue(tx: Tx, deviceId: string, reason: RotationReason, dueAt: Date): Promise<string> {
    const open = await jobs.openFor(tx, deviceId);
    if (!open) return jobs.insert(tx, deviceId, reason, dueAt.toISOString(), clock.now().toISOString());
    if (dueAt.toISOString() < open.dueAt) await jobs.reschedule(tx, open.id, { dueAt: dueAt.toISOString(), reason });
    return open.id;
  }

  /** The scheduler's tick: queues a job for every device past its next due time, reading only the due ones. */
  async function enqueueDueRotations(pageSize = 1000): Promise<number> {
    const now = clock.now();
    let total = 0;
    for (;;) {
      const due = await devices.dueForRotation(db, now.toISOString(), pageSize);
      // Small units keep each transaction short while a whole fleet comes due.
      for (let i = 0; i < due.length; i += 20) {
        const chunk = due.slice(i, i + 20);
        await transactor.run(async (tx) => {
          for (const d of chunk) {
            await enqueue(tx, d.id, 'scheduled', now);
            // In progress: not due again until the new password is acknowledged (and off the index range read above).
            await devices.clearNextDue(tx, d.id);
          }
        });
      }
      total += due.length;
      if (due.length < pageSize) return total;
    }
  }

  return { enqueue, enqueueDueRotations };
}

export type RotationQueue = ReturnType<typeof createRotationQueue>;
