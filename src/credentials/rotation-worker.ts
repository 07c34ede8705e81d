import { Logger } from 'pino';
import { AuditActor } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { DeviceRepository } from '../devices/device-repository';
import { failpoint } from '../failpoints/failpoint';
import { GrantRepository } from '../grants/grant-repository';
import { Metrics } from '../metrics/metrics';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { CredentialRepository } from './credential-repository';
import { CredentialService } from './credential-service';
import { createRotationPacer } from './rotation-pacer';
import { RotationJob, RotationJobRepository } from './rotation-job-repository';
import { RotationSettings, describeFailure as describe } from './rotation';

const system: AuditActor = { kind: 'system', subject: 'rotation' };

/**
 * The worker: claims due jobs page by page, runs them in lanes at a pace, and takes each to its
 * next durable state: a new pending version (generate → vault → pending), merged into one already
 * pending, deferred behind live grants, or failed and retried after a backoff.
 */
export function createRotationWorker(deps: {
  db: Db;
  versions: Pick<CredentialRepository, 'pending' | 'find'>;
  jobs: Pick<RotationJobRepository, 'claimPage' | 'reschedule' | 'finish' | 'releaseAllClaims'>;
  devices: Pick<DeviceRepository, 'findById' | 'clearNextDue' | 'recordFailure'>;
  /** When the grants live on a device end: a scheduled rotation waits for them. */
  grants: Pick<GrantRepository, 'lastLiveExpiry'>;
  transactor: Transactor;
  credentials: Pick<CredentialService, 'preparePassword' | 'recordPending' | 'writePendingInTransaction'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  logger: Logger;
  settings: RotationSettings;
  metrics: Pick<Metrics, 'rotation'>;
  /** The retry delay after `failures` failures in a row. */
  backoffMs: (failures: number) => number;
}) {
  const { db, versions, jobs, devices, transactor, credentials, audit, clock, settings, backoffMs } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();

  /**
   * When the last grant that was live as the job came due ends. Grants activated after that do not
   * hold it back again: otherwise overlapping grants could put a password's rotation off for ever, and
   * no password outlives rotation.maxAge by more than the longest grant a policy allows.
   */
  async function liveGrantsEnd(q: Db | Tx, deviceId: string, now: string, liveSince: string): Promise<string | undefined> {
    return deps.grants.lastLiveExpiry(q, deviceId, now, liveSince);
  }

  async function failJob(job: RotationJob, error: unknown): Promise<void> {
    const reason = describe(error);
    const now = clock.now();
    const failures = await transactor.run(async (tx) => {
      const n = await devices.recordFailure(tx, job.deviceId, reason);
      await jobs.reschedule(tx, job.id, { attempts: job.attempts + 1, lastError: reason, dueAt: iso(now.getTime() + backoffMs(n)) });
      await audit.append(tx, {
        actor: system,
        action: 'credential.rotation-failed',
        outcome: 'failure',
        deviceId: job.deviceId,
        target: `job:${job.id}`,
        reason,
        details: { failures: n },
      });
      return n;
    });
    deps.metrics.rotation(job.reason, 'failed');
    const log = failures >= settings.flagAfter ? deps.logger.error.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
    log({ deviceId: job.deviceId, job: job.id, failures, reason }, failures >= settings.flagAfter ? 'rotation failing: device flagged' : 'rotation failed; will retry');
  }

  /**
   * Runs one claimed job to its next durable state. Any failure, the store's own included, is the
   * job's: recorded and retried after a backoff, never left claimed until its lease runs out.
   */
  async function runJob(job: RotationJob): Promise<void> {
    try {
      await attemptJob(job);
    } catch (e) {
      await failJob(job, e);
    }
  }

  /**
   * A device's pending version met by a job. One nobody has seen replaces the current password
   * already: the job is satisfied by it (merged). One a requester was shown (a reveal past
   * ackTimeout) is a used password: the job stays open, waits for it to be acknowledged or to fail,
   * then rotates after it. Decided inside the transaction, on the version as it is now.
   */
  async function meetPending(job: RotationJob, pendingVersion: number, now: Date): Promise<void> {
    const outcome = await transactor.run(async (tx): Promise<'merged' | 'waiting' | 'settled'> => {
      const v = await versions.find(tx, job.deviceId, pendingVersion);
      if (v?.revealedAt) {
        if (v.state !== 'pending') {
          // Settled since it was read (acknowledged or failed): free the job to rotate on the next tick.
          await jobs.reschedule(tx, job.id, {});
          return 'settled';
        }
        // The acknowledgement brings the job forward (acknowledge); this later due time only
        // re-checks a device whose agent never answers (or that was retired meanwhile).
        await jobs.reschedule(tx, job.id, { dueAt: iso(now.getTime() + settings.ackTimeoutSeconds * 1000) });
        return 'waiting';
      }
      await jobs.finish(tx, job.id, 'merged', now.toISOString());
      await audit.append(tx, {
        actor: system,
        action: 'credential.rotation-merged',
        outcome: 'success',
        deviceId: job.deviceId,
        target: `job:${job.id}`,
        details: { reason: job.reason },
      });
      return 'merged';
    });
    if (outcome === 'merged') deps.metrics.rotation(job.reason, 'merged');
    if (outcome === 'waiting') {
      deps.metrics.rotation(job.reason, 'deferred');
      deps.logger.info({ deviceId: job.deviceId, job: job.id, version: pendingVersion }, 'rotation waits for a pending version a requester was shown to be acknowledged');
    }
  }

  async function attemptJob(job: RotationJob): Promise<void> {
    const now = clock.now();
    const device = await devices.findById(db, job.deviceId);
    if (!device || device.status !== 'active') {
      await transactor.run((tx) => jobs.finish(tx, job.id, 'cancelled', now.toISOString()));
      deps.metrics.rotation(job.reason, 'cancelled');
      return;
    }
    const pending = await versions.pending(db, device.id);
    if (pending) return meetPending(job, pending.version, now);
    if (job.reason === 'scheduled') {
      // Not under someone who is using the password now: wait for the last live grant to end.
      const until = await liveGrantsEnd(db, device.id, now.toISOString(), job.createdAt);
      if (until) {
        deps.metrics.rotation(job.reason, 'deferred');
        return void (await transactor.run((tx) => jobs.reschedule(tx, job.id, { dueAt: until })));
      }
    }
    const started = async (tx: Tx, version: number) => {
      // Pending is durable before any device can see it; the job is done in the same commit.
      await jobs.finish(tx, job.id, 'rotated', now.toISOString());
      await devices.clearNextDue(tx, device.id);
      await audit.append(tx, {
        actor: system,
        action: 'credential.rotation-started',
        outcome: 'success',
        deviceId: device.id,
        target: `version:${version}`,
        details: { reason: job.reason, job: job.id },
      });
    };
    const noPendingYet = async (tx: Tx) => {
      if (await versions.pending(tx, device.id)) throw new DomainError('conflict', 'another rotation made a pending version first');
    };
    const inStore = credentials.writePendingInTransaction;
    if (inStore) {
      // The vault is in this store: the new password and its pending row commit together.
      await transactor.run(
        async (tx) => {
          await noPendingYet(tx);
          const p = await inStore(tx, device.id, device.groups, job.reason);
          failpoint('rotation.after-vault-write');
          await started(tx, p.version);
        },
        { background: true },
      );
    } else {
      // A remote vault is written first; a crash before the pending row leaves a version nothing refers to.
      const prepared = await credentials.preparePassword(device.id, device.groups, job.reason);
      failpoint('rotation.after-vault-write');
      await transactor.run(
        async (tx) => {
          await noPendingYet(tx);
          await credentials.recordPending(tx, prepared);
          await started(tx, prepared.version);
        },
        { background: true },
      );
    }
    failpoint('rotation.after-pending');
    deps.metrics.rotation(job.reason, 'rotated');
  }

  const pace = createRotationPacer(settings.maxPerSecond);

  /** Runs claimed jobs, at most `concurrency` at a time and `maxPerSecond` a second. */
  async function runClaimed(mine: RotationJob[]): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < mine.length) {
        const job = mine[next++] as RotationJob;
        // Taken before the wait: another lane may take the last job meanwhile.
        await pace();
        // Even recording the failure failed (the store is down): the lane goes on; the job comes back when its lease runs out.
        await runJob(job).catch((e: unknown) => deps.logger.error({ deviceId: job.deviceId, job: job.id, reason: describe(e) }, 'could not run or record a rotation job'));
      }
    };
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, mine.length) }, lane));
  }

  /**
   * The worker: drains the due jobs page by page, each page claimed in one statement and run at
   * most `concurrency` at a time. A failed job comes back after an exponential backoff with
   * jitter; a page whose worker died comes back when its lease runs out.
   */
  async function runDueJobs(pageSize = 500): Promise<number> {
    let ran = 0;
    // Under a cap, a page is what the lanes start in half the lease, so no claimed job waits past it.
    if (settings.maxPerSecond > 0) pageSize = Math.max(1, Math.min(pageSize, Math.floor((settings.leaseSeconds * settings.maxPerSecond) / 2)));
    for (;;) {
      const now = clock.now();
      const until = iso(now.getTime() + settings.leaseSeconds * 1000);
      const page = await jobs.claimPage(transactor.run.bind(transactor), now.toISOString(), until, pageSize);
      await runClaimed(page.jobs);
      ran += page.jobs.length;
      if (!page.more) return ran;
    }
  }

  /**
   * At start-up of the only daemon on a store (SQLite), every claim is one its previous run left
   * when it died: released, so that run's jobs go on now rather than when their leases run out.
   */
  async function releaseClaimsOfDeadRun(): Promise<number> {
    const n = await transactor.run((tx) => jobs.releaseAllClaims(tx), { singleWrite: true });
    if (n > 0) deps.logger.warn({ jobs: n }, 'released rotation jobs claimed by a run that did not finish them');
    return n;
  }

  return { runDueJobs, releaseClaimsOfDeadRun };
}

export type RotationWorker = ReturnType<typeof createRotationWorker>;
