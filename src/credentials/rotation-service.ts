import { Logger } from 'pino';
import { sql } from 'kysely';
import { AuditActor, RequestContext } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { createDeviceRepository } from '../devices/device-repository';
import { failpoint } from '../failpoints/failpoint';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { isPostgres } from '../store/dialect';
import { Transactor, Tx } from '../store/transactor';
import { Metrics } from '../metrics/metrics';
import { backoffDelay } from '../time/backoff';
import { Clock } from '../time/clock';
import { VaultBackend } from '../vault/vault-backend';
import { CredentialService } from './credential-service';
import { createRotationPacer } from './rotation-pacer';
import { RotationJob, RotationReason, createRotationJobRepository } from './rotation-job-repository';
import { Secret } from '../secrets/secret';

export interface RotationSettings {
  maxAgeSeconds: number;
  /** Fraction of maxAge by which each next due time is pulled earlier at random. */
  jitter: number;
  ackTimeoutSeconds: number;
  /** Superseded versions kept in the vault for recovery. */
  history: number;
  concurrency: number;
  /** Rotation jobs started per second at most, across all lanes (0: no cap). */
  maxPerSecond: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  /** Failures in a row after which a device is flagged. */
  flagAfter: number;
  /** How long a worker holds a job it took; a worker that died lets it go after this. */
  leaseSeconds: number;
}

const system: AuditActor = { kind: 'system', subject: 'rotation' };

/** What went wrong, for the job row and the audit: the message and its cause's, never a value. */
function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  return (cause instanceof Error ? `${msg} (${cause.message})` : msg).slice(0, 500);
}

/**
 * Two-phase rotation: generate → vault → pending → the agent fetches → sets → acknowledges →
 * current, with the previous version superseded in the same transaction. Every step is recorded
 * before the next acts, so a crash anywhere leaves a state the worker or the agent finishes.
 */
export function createRotationService(deps: {
  db: Db;
  transactor: Transactor;
  credentials: Pick<CredentialService, 'preparePassword' | 'recordPending' | 'writePendingInTransaction' | 'readSecret' | 'versions'>;
  vault: Pick<VaultBackend, 'remove' | 'markState'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  logger: Logger;
  settings: RotationSettings;
  metrics: Pick<Metrics, 'rotation'>;
}) {
  const { db, transactor, credentials, audit, clock, settings } = deps;
  const versions = credentials.versions;
  const devices = createDeviceRepository(db);
  const jobs = createRotationJobRepository(db);
  const pg = isPostgres(db);

  const iso = (ms: number) => new Date(ms).toISOString();

  /** maxAge from `at`, pulled earlier by a random share of the jitter window. */
  function nextDue(at: Date): string {
    return iso(at.getTime() + settings.maxAgeSeconds * 1000 * (1 - settings.jitter * Math.random()));
  }

  /** Exponential backoff with jitter: base·2^(n−1), capped, then a random 50–100 % of it. */
  const backoffMs = (failures: number) => backoffDelay(failures - 1, { baseMs: settings.retryBaseSeconds * 1000, maxMs: settings.retryMaxSeconds * 1000, jitter: 'equal' });

  /** Queues a rotation in the caller's transaction; a device's open job absorbs a second request, the earlier due time winning. */
  async function enqueue(tx: Tx, deviceId: string, reason: RotationReason, dueAt: Date): Promise<string> {
    const open = await jobs.openFor(tx, deviceId);
    if (!open) return jobs.insert(tx, deviceId, reason, dueAt.toISOString(), clock.now().toISOString());
    if (dueAt.toISOString() < open.due_at) await jobs.reschedule(tx, open.id, { due_at: dueAt.toISOString(), reason });
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

  /**
   * When the last grant that was live as the job came due ends. Grants activated after that do not
   * hold it back again: otherwise overlapping grants could put a password's rotation off for ever, and
   * no password outlives rotation.maxAge by more than the longest grant a policy allows.
   */
  async function liveGrantsEnd(q: Db | Tx, deviceId: string, now: string, liveSince: string): Promise<string | undefined> {
    const r = await q
      .selectFrom('grants')
      .select((eb) => eb.fn.max('expires_at').as('until'))
      .where('device_id', '=', deviceId)
      .where('state', '=', 'active')
      .where('expires_at', '>', now)
      .where('activated_at', '<=', liveSince)
      .executeTakeFirst();
    return (r?.until as string | null | undefined) ?? undefined;
  }

  async function failJob(job: RotationJob, error: unknown): Promise<void> {
    const reason = describe(error);
    const now = clock.now();
    const failures = await transactor.run(async (tx) => {
      const n = await devices.recordFailure(tx, job.device_id, reason);
      await jobs.reschedule(tx, job.id, { attempts: job.attempts + 1, last_error: reason, due_at: iso(now.getTime() + backoffMs(n)) });
      await audit.append(tx, {
        actor: system,
        action: 'credential.rotation-failed',
        outcome: 'failure',
        deviceId: job.device_id,
        target: `job:${job.id}`,
        reason,
        details: { failures: n },
      });
      return n;
    });
    deps.metrics.rotation(job.reason, 'failed');
    const log = failures >= settings.flagAfter ? deps.logger.error.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
    log({ deviceId: job.device_id, job: job.id, failures, reason }, failures >= settings.flagAfter ? 'rotation failing: device flagged' : 'rotation failed; will retry');
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
      const v = await versions.find(tx, job.device_id, pendingVersion);
      if (v?.revealed_at) {
        if (v.state !== 'pending') {
          // Settled since it was read (acknowledged or failed): free the job to rotate on the next tick.
          await jobs.reschedule(tx, job.id, {});
          return 'settled';
        }
        // The acknowledgement brings the job forward (acknowledge); this later due time only
        // re-checks a device whose agent never answers (or that was retired meanwhile).
        await jobs.reschedule(tx, job.id, { due_at: iso(now.getTime() + settings.ackTimeoutSeconds * 1000) });
        return 'waiting';
      }
      await jobs.finish(tx, job.id, 'merged', now.toISOString());
      await audit.append(tx, {
        actor: system,
        action: 'credential.rotation-merged',
        outcome: 'success',
        deviceId: job.device_id,
        target: `job:${job.id}`,
        details: { reason: job.reason },
      });
      return 'merged';
    });
    if (outcome === 'merged') deps.metrics.rotation(job.reason, 'merged');
    if (outcome === 'waiting') {
      deps.metrics.rotation(job.reason, 'deferred');
      deps.logger.info({ deviceId: job.device_id, job: job.id, version: pendingVersion }, 'rotation waits for a pending version a requester was shown to be acknowledged');
    }
  }

  async function attemptJob(job: RotationJob): Promise<void> {
    const now = clock.now();
    const device = await devices.findById(db, job.device_id);
    if (!device || device.status !== 'active') {
      await transactor.run((tx) => jobs.finish(tx, job.id, 'cancelled', now.toISOString()));
      deps.metrics.rotation(job.reason, 'cancelled');
      return;
    }
    const pending = await versions.pending(db, device.id);
    if (pending) return meetPending(job, pending.version, now);
    if (job.reason === 'scheduled') {
      // Not under someone who is using the password now: wait for the last live grant to end.
      const until = await liveGrantsEnd(db, device.id, now.toISOString(), job.created_at);
      if (until) {
        deps.metrics.rotation(job.reason, 'deferred');
        return void (await transactor.run((tx) => jobs.reschedule(tx, job.id, { due_at: until })));
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
        await runJob(job).catch((e: unknown) => deps.logger.error({ deviceId: job.device_id, job: job.id, reason: describe(e) }, 'could not run or record a rotation job'));
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
      if (pg) {
        // Several daemons: the page is chosen and claimed in one statement (FOR UPDATE SKIP LOCKED).
        const mine = await transactor.run((tx) => jobs.claimDue(tx, now.toISOString(), until, pageSize));
        mine.sort((a, b) => (a.due_at < b.due_at ? -1 : a.due_at > b.due_at ? 1 : 0));
        await runClaimed(mine);
        ran += mine.length;
        if (mine.length < pageSize) return ran;
        continue;
      }
      const due = await jobs.due(db, now.toISOString(), pageSize);
      if (due.length === 0) return ran;
      const claimed = new Set(
        await transactor.run(
          (tx) =>
            jobs.claimMany(
              tx,
              due.map((j) => j.id),
              now.toISOString(),
              until,
            ),
          { singleWrite: true },
        ),
      );
      const mine = due.filter((j) => claimed.has(j.id));
      await runClaimed(mine);
      ran += mine.length;
      if (due.length < pageSize) return ran;
    }
  }

  /** The pending password the agent must set, audited before it leaves; undefined when none is pending. */
  async function fetchPending(deviceId: string, ctx: RequestContext): Promise<{ version: number; account: string; password: Secret } | undefined> {
    const pending = await versions.pending(db, deviceId);
    if (!pending) return undefined;
    const device = await devices.findById(db, deviceId);
    const secret = await credentials.readSecret(pending);
    const stillPending = await transactor.run(async (tx) => {
      // The first fetch starts the acknowledgement clock: from then on the device may hold this password.
      const r = await tx
        .updateTable('credential_versions')
        .set({ fetched_at: sql<string>`coalesce(fetched_at, ${clock.now().toISOString()})` })
        .where('device_id', '=', deviceId)
        .where('version', '=', pending.version)
        .where('state', '=', 'pending')
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) return false;
      await audit.append(tx, {
        actor: { kind: 'device', subject: deviceId },
        action: 'credential.fetched',
        outcome: 'success',
        deviceId,
        target: `version:${pending.version}`,
        context: ctx,
      });
      return true;
    });
    failpoint('fetch.after-commit');
    return stillPending ? { version: pending.version, account: device?.account ?? 'localadmin', password: secret } : undefined;
  }

  /** Removes from the vault the superseded versions past `history` (failed ones counted apart); a failure here waits for the next acknowledgement. */
  async function pruneHistory(deviceId: string): Promise<void> {
    try {
      for (const v of await versions.beyondHistory(db, deviceId, settings.history)) {
        await deps.vault.remove({ deviceId, version: v.version }, v.vault_ref);
        await versions.markPruned(db, deviceId, v.version, clock.now().toISOString());
      }
    } catch (e) {
      deps.logger.warn({ deviceId, reason: describe(e) }, 'could not prune old password versions; will try after the next rotation');
    }
  }

  /**
   * The agent's answer. `set` makes the version current and supersedes the previous one in one
   * transaction (the old one stays in the vault: the device may still hold it if this ack was
   * wrong). `failed` marks it failed and queues a retry after a backoff.
   */
  async function acknowledge(deviceId: string, version: number, result: 'set' | 'failed', error: string | undefined, ctx: RequestContext): Promise<void> {
    // The device has set the password and says so; nothing of the answer is recorded yet.
    failpoint('ack.received');
    const actor: AuditActor = { kind: 'device', subject: deviceId };
    // The reason of the version whose state changed, or undefined when a repeated ack changed nothing.
    // Versions whose state changed, for the vault's own labels once the change is committed.
    const marks: Array<{ version: number; ref: string; state: 'current' | 'superseded' | 'failed' }> = [];
    // Only with several writers (PostgreSQL): the version was pending when read, and is not any more.
    const changedMeanwhile = async (tx: Tx, v: number) =>
      new DomainError('conflict', `Version ${v} is ${(await versions.find(tx, deviceId, v))?.state ?? 'gone'}; only a pending version can be acknowledged.`);
    const changed = await transactor.run(async (tx): Promise<RotationReason | undefined> => {
      marks.length = 0;
      const v = await versions.find(tx, deviceId, version);
      if (!v) throw new DomainError('not-found', `Device '${deviceId}' has no credential version ${version}.`);
      // A repeated acknowledgement (the agent restarted before it saw our answer) changes nothing.
      if (result === 'set' && v.state === 'current') return undefined;
      if (v.state !== 'pending') throw new DomainError('conflict', `Version ${version} is ${v.state}; only a pending version can be acknowledged.`);
      const at = clock.now();
      if (result === 'failed') {
        const reason = (error ?? 'no detail').slice(0, 500);
        if (!(await versions.moveIfState(tx, deviceId, version, 'pending', { state: 'failed', error: reason }))) throw await changedMeanwhile(tx, version);
        marks.push({ version, ref: v.vault_ref, state: 'failed' });
        const failures = await devices.recordFailure(tx, deviceId, `the agent could not set version ${version}: ${reason}`);
        await enqueue(tx, deviceId, v.reason, new Date(at.getTime() + backoffMs(failures)));
        await audit.append(tx, {
          actor,
          action: 'credential.acknowledged',
          outcome: 'failure',
          deviceId,
          target: `version:${version}`,
          reason,
          details: { failures },
          context: ctx,
        });
        return v.reason;
      }
      const old = await versions.inState(tx, deviceId, 'current');
      const superseded = old ? await versions.moveIfState(tx, deviceId, old.version, 'current', { state: 'superseded', superseded_at: at.toISOString() }) : false;
      if (!(await versions.moveIfState(tx, deviceId, version, 'pending', { state: 'current', acknowledged_at: at.toISOString() }))) {
        // Another acknowledgement of this version committed first (daemons sharing a PostgreSQL store):
        // a repeated 'set' that changed nothing here is answered as one; anything else is rolled back.
        if (!superseded && (await versions.find(tx, deviceId, version))?.state === 'current') return undefined;
        throw await changedMeanwhile(tx, version);
      }
      marks.push({ version, ref: v.vault_ref, state: 'current' });
      if (old) marks.push({ version: old.version, ref: old.vault_ref, state: 'superseded' });
      failpoint('ack.before-commit');
      await devices.markRotated(tx, deviceId, at.toISOString(), nextDue(at));
      if (v.revealed_at) {
        // A requester saw this password before it was confirmed: a job that waits for it to settle
        // (meetPending) runs now instead of at its next re-check.
        const open = await jobs.openFor(tx, deviceId);
        if (open && open.due_at > at.toISOString()) await jobs.reschedule(tx, open.id, { due_at: at.toISOString() });
      }
      await audit.append(tx, {
        actor,
        action: 'credential.acknowledged',
        outcome: 'success',
        deviceId,
        target: `version:${version}`,
        details: { superseded: old?.version ?? null },
        context: ctx,
      });
      return v.reason;
    });
    failpoint('ack.after-commit');
    if (changed) deps.metrics.rotation(changed, result === 'set' ? 'acknowledged' : 'set-failed');
    if (changed && deps.vault.markState) {
      const mark = deps.vault.markState.bind(deps.vault);
      // Not awaited: the device's answer does not wait on vault labels, and a failure only leaves a stale label.
      void Promise.all(marks.map((m) => mark({ deviceId, version: m.version }, m.ref, m.state))).catch((e: unknown) =>
        deps.logger.warn({ deviceId, reason: describe(e) }, 'could not label password versions in the vault'),
      );
    }
    if (changed && result === 'set') await pruneHistory(deviceId);
  }

  /** What the device view shows about rotation: flagged after `flagAfter` failures in a row, the open job, an overdue acknowledgement. */
  async function rotationStatus(deviceId: string) {
    const now = clock.now();
    const [state, open, pending] = await Promise.all([devices.rotationState(db, deviceId), jobs.openFor(db, deviceId), versions.pending(db, deviceId)]);
    const failures = state?.rotation_failures ?? 0;
    return {
      lastRotatedAt: state?.last_rotated_at ?? null,
      nextRotationDue: state?.next_due ?? null,
      failing: failures >= settings.flagAfter,
      failures,
      lastError: state?.rotation_error ?? null,
      queued: open ? { jobId: open.id, reason: open.reason, dueAt: open.due_at, attempts: open.attempts } : null,
      ackOverdue: pending?.fetched_at ? now.getTime() - Date.parse(pending.fetched_at) >= settings.ackTimeoutSeconds * 1000 : false,
    };
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

  return { enqueue, enqueueDueRotations, runDueJobs, fetchPending, acknowledge, rotationStatus, nextDue, releaseClaimsOfDeadRun };
}

export type RotationService = ReturnType<typeof createRotationService>;
