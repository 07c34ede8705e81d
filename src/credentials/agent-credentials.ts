import { Logger } from 'pino';
import { AuditActor, RequestContext } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { DeviceRepository } from '../devices/device-repository';
import { failpoint } from '../failpoints/failpoint';
import { Metrics } from '../metrics/metrics';
import { DomainError } from '../problems/problem';
import { Secret } from '../secrets/secret';
import { Db } from '../store/database';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { VaultBackend } from '../vault/vault-backend';
import { CredentialRepository } from './credential-repository';
import { CredentialService } from './credential-service';
import { RotationReason } from './credential-version';
import { RotationJobRepository } from './rotation-job-repository';
import { RotationQueue } from './rotation-queue';
import { RotationSettings, describeFailure as describe } from './rotation';

/**
 * The device agent's side of a rotation: it fetches the pending password (audited before it
 * leaves) and acknowledges it, set (current; the previous one superseded) or failed (retried).
 */
export function createAgentCredentials(deps: {
  db: Db;
  versions: Pick<CredentialRepository, 'pending' | 'find' | 'inState' | 'moveIfState' | 'markFetched' | 'beyondHistory' | 'markPruned'>;
  jobs: Pick<RotationJobRepository, 'openFor' | 'reschedule'>;
  devices: Pick<DeviceRepository, 'findById' | 'recordFailure' | 'markRotated'>;
  transactor: Transactor;
  credentials: Pick<CredentialService, 'readSecret'>;
  vault: Pick<VaultBackend, 'remove' | 'markState'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  logger: Logger;
  settings: Pick<RotationSettings, 'history'>;
  metrics: Pick<Metrics, 'rotation'>;
  enqueue: RotationQueue['enqueue'];
  /** The retry delay after `failures` failures in a row. */
  backoffMs: (failures: number) => number;
  /** The next scheduled rotation after one acknowledged at `at`. */
  nextDue: (at: Date) => string;
}) {
  const { db, versions, jobs, devices, transactor, credentials, audit, clock, settings, enqueue, backoffMs, nextDue } = deps;

  /** The pending password the agent must set, audited before it leaves; undefined when none is pending. */
  async function fetchPending(deviceId: string, ctx: RequestContext): Promise<{ version: number; account: string; password: Secret } | undefined> {
    const pending = await versions.pending(db, deviceId);
    if (!pending) return undefined;
    const device = await devices.findById(db, deviceId);
    const secret = await credentials.readSecret(pending);
    const stillPending = await transactor.run(async (tx) => {
      // The first fetch starts the acknowledgement clock: from then on the device may hold this password.
      if (!(await versions.markFetched(tx, deviceId, pending.version, clock.now().toISOString()))) return false;
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
        await deps.vault.remove({ deviceId, version: v.version }, v.vaultRef);
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
        marks.push({ version, ref: v.vaultRef, state: 'failed' });
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
      const superseded = old ? await versions.moveIfState(tx, deviceId, old.version, 'current', { state: 'superseded', at: at.toISOString() }) : false;
      if (!(await versions.moveIfState(tx, deviceId, version, 'pending', { state: 'current', at: at.toISOString() }))) {
        // Another acknowledgement of this version committed first (daemons sharing a PostgreSQL store):
        // a repeated 'set' that changed nothing here is answered as one; anything else is rolled back.
        if (!superseded && (await versions.find(tx, deviceId, version))?.state === 'current') return undefined;
        throw await changedMeanwhile(tx, version);
      }
      marks.push({ version, ref: v.vaultRef, state: 'current' });
      if (old) marks.push({ version: old.version, ref: old.vaultRef, state: 'superseded' });
      failpoint('ack.before-commit');
      await devices.markRotated(tx, deviceId, at.toISOString(), nextDue(at));
      if (v.revealedAt) {
        // A requester saw this password before it was confirmed: a job that waits for it to settle
        // (meetPending) runs now instead of at its next re-check.
        const open = await jobs.openFor(tx, deviceId);
        if (open && open.dueAt > at.toISOString()) await jobs.reschedule(tx, open.id, { dueAt: at.toISOString() });
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

  return { fetchPending, acknowledge };
}

export type AgentCredentials = ReturnType<typeof createAgentCredentials>;
