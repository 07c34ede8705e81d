import { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log';
import { DeviceRepository } from '../devices/device-repository';
import { GrantRepository } from '../grants/grant-repository';
import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Metrics } from '../metrics/metrics';
import { retryDelayMs } from '../time/backoff';
import { Clock } from '../time/clock';
import { VaultBackend } from '../vault/vault-backend';
import { createAgentCredentials } from './agent-credentials';
import { CredentialRepository } from './credential-repository';
import { CredentialService } from './credential-service';
import { RotationSettings } from './rotation';
import { RotationJobRepository } from './rotation-job-repository';
import { createRotationQueue } from './rotation-queue';
import { createRotationWorker } from './rotation-worker';

export type { RotationSettings } from './rotation';

/**
 * Two-phase rotation: generate → vault → pending → the agent fetches → sets → acknowledges →
 * current, with the previous version superseded in the same transaction. Every step is recorded
 * before the next acts, so a crash anywhere leaves a state the worker or the agent finishes.
 * Three parts: the queue (what to rotate and when), the worker (claims, lanes, pacing, backoff)
 * and the agent's fetch and acknowledgement; this composes them and reports a device's status.
 */
export function createRotationService(deps: {
  db: Db;
  versions: CredentialRepository;
  jobs: RotationJobRepository;
  /** The rotation state kept on the device's row (last rotated, next due, failures in a row). */
  devices: Pick<DeviceRepository, 'findById' | 'dueForRotation' | 'clearNextDue' | 'recordFailure' | 'markRotated' | 'rotationState'>;
  /** When the grants live on a device end: a scheduled rotation waits for them. */
  grants: Pick<GrantRepository, 'lastLiveExpiry'>;
  transactor: Transactor;
  credentials: Pick<CredentialService, 'preparePassword' | 'recordPending' | 'writePendingInTransaction' | 'readSecret'>;
  vault: Pick<VaultBackend, 'remove' | 'markState'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  logger: Logger;
  settings: RotationSettings;
  metrics: Pick<Metrics, 'rotation'>;
}) {
  const { db, versions, jobs, devices, transactor, clock, settings } = deps;

  const iso = (ms: number) => new Date(ms).toISOString();

  /** maxAge from `at`, pulled earlier by a random share of the jitter window. */
  function nextDue(at: Date): string {
    return iso(at.getTime() + settings.maxAgeSeconds * 1000 * (1 - settings.jitter * Math.random()));
  }

  const backoffMs = (failures: number) => retryDelayMs(failures, settings);

  const queue = createRotationQueue({ db, jobs, devices, transactor, clock });
  const { enqueue } = queue;
  const worker = createRotationWorker({ ...deps, backoffMs });
  const agent = createAgentCredentials({ ...deps, enqueue, backoffMs, nextDue });

  /** What the device view shows about rotation: flagged after `flagAfter` failures in a row, the open job, an overdue acknowledgement. */
  async function rotationStatus(deviceId: string) {
    const now = clock.now();
    const [state, open, pending] = await Promise.all([devices.rotationState(db, deviceId), jobs.openFor(db, deviceId), versions.pending(db, deviceId)]);
    const failures = state?.rotationFailures ?? 0;
    return {
      lastRotatedAt: state?.lastRotatedAt ?? null,
      nextRotationDue: state?.nextDue ?? null,
      failing: failures >= settings.flagAfter,
      failures,
      lastError: state?.rotationError ?? null,
      queued: open ? { jobId: open.id, reason: open.reason, dueAt: open.dueAt, attempts: open.attempts } : null,
      ackOverdue: pending?.fetchedAt ? now.getTime() - Date.parse(pending.fetchedAt) >= settings.ackTimeoutSeconds * 1000 : false,
    };
  }

  return {
    enqueue,
    enqueueDueRotations: queue.enqueueDueRotations,
    runDueJobs: worker.runDueJobs,
    fetchPending: agent.fetchPending,
    acknowledge: agent.acknowledge,
    rotationStatus,
    nextDue,
    releaseClaimsOfDeadRun: worker.releaseClaimsOfDeadRun,
  };
}

export type RotationService = ReturnType<typeof createRotationService>;
