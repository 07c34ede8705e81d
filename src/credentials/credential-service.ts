import { AuditActor, RequestContext } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { createDeviceRepository } from '../devices/device-repository';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { CredentialVersionTable } from '../store/schema';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { VaultBackend } from '../vault/vault-backend';
import { CredentialVersion, credentialRepository as versions } from './credential-repository';
import { PasswordPolicy, generatePassword } from './password-generator';
import { Secret } from './secret';

export type RotationReason = CredentialVersionTable['reason'];

export interface PreparedVersion {
  deviceId: string;
  version: number;
  ref: string;
  reason: RotationReason;
}

/** Two-phase credentials: a new password is pending until the device acknowledges it. */
export function createCredentialService(deps: {
  db: Db;
  transactor: Transactor;
  vault: VaultBackend;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  passwordPolicy: PasswordPolicy;
  maxAgeSeconds: number;
}) {
  const { db, transactor, vault, audit, clock } = deps;
  const deviceRepository = createDeviceRepository(db);

  /**
   * Generates a password and writes it to the vault. Nothing points at it until `recordPending`
   * commits, so a crash in between leaves an unreferenced vault entry and no lost credential.
   */
  async function preparePassword(deviceId: string, reason: RotationReason): Promise<PreparedVersion> {
    const version = await versions.nextVersion(db, deviceId);
    let ref: string;
    try {
      ref = await vault.put({ deviceId, version }, generatePassword(deps.passwordPolicy));
    } catch (e) {
      throw Object.assign(new DomainError('unavailable', 'The vault did not store the new password; nothing changed.'), { cause: e });
    }
    return { deviceId, version, ref, reason };
  }

  /** Records a prepared password as the device's pending version, in the caller's transaction. */
  async function recordPending(tx: Tx, p: PreparedVersion): Promise<void> {
    await versions.insert(tx, {
      device_id: p.deviceId,
      version: p.version,
      state: 'pending',
      reason: p.reason,
      vault_ref: p.ref,
      created_at: clock.now().toISOString(),
      fetched_at: null,
      acknowledged_at: null,
      superseded_at: null,
      error: null,
    });
  }

  async function summary(deviceId: string) {
    const [current, pending, times] = await Promise.all([
      versions.inState(db, deviceId, 'current'),
      versions.inState(db, deviceId, 'pending'),
      deviceRepository.rotationTimes(db, deviceId),
    ]);
    return {
      currentVersion: current?.version ?? null,
      pendingVersion: pending?.version ?? null,
      lastRotatedAt: times?.last_rotated_at ?? null,
      nextRotationDue: times?.next_due ?? null,
    };
  }

  /** A version's password from the vault; an unreadable vault is `unavailable` (no audit: the caller audits). */
  async function readSecret(v: CredentialVersion): Promise<Secret> {
    let secret: Secret | undefined;
    try {
      secret = await vault.get({ deviceId: v.device_id, version: v.version }, v.vault_ref);
    } catch (e) {
      throw Object.assign(new DomainError('unavailable', 'The vault could not be read; nothing was revealed.'), { cause: e });
    }
    if (!secret) throw new DomainError('unavailable', `The vault holds no password for version ${v.version}; nothing was revealed.`);
    return secret;
  }

  /** The pending password the agent must set, audited before it leaves; undefined when none is pending. */
  async function fetchPending(deviceId: string, ctx: RequestContext): Promise<{ version: number; account: string; password: Secret } | undefined> {
    const pending = await versions.inState(db, deviceId, 'pending');
    if (!pending) return undefined;
    const account = (await deviceRepository.findById(db, deviceId))?.account ?? 'localadmin';
    const secret = await readSecret(pending);
    const actor: AuditActor = { kind: 'device', subject: deviceId };
    const stillPending = await transactor.run(async (tx) => {
      const moved = await versions.moveIfState(tx, deviceId, pending.version, 'pending', { fetched_at: clock.now().toISOString() });
      if (moved) await audit.append(tx, { actor, action: 'credential.fetched', outcome: 'success', deviceId, target: `version:${pending.version}`, context: ctx });
      return moved;
    });
    return stillPending ? { version: pending.version, account, password: secret } : undefined;
  }

  /** The agent's answer: `set` makes the version current and supersedes the old one, in one transaction. */
  async function acknowledge(deviceId: string, version: number, result: 'set' | 'failed', error: string | undefined, ctx: RequestContext): Promise<void> {
    const actor: AuditActor = { kind: 'device', subject: deviceId };
    await transactor.run(async (tx) => {
      const v = await versions.find(tx, deviceId, version);
      if (!v) throw new DomainError('not-found', `Device '${deviceId}' has no credential version ${version}.`);
      // A repeated acknowledgement (the agent restarted before it saw our answer) is a no-op.
      if (result === 'set' && v.state === 'current') return;
      if (v.state !== 'pending') throw new DomainError('conflict', `Version ${version} is ${v.state}; only a pending version can be acknowledged.`);
      const at = clock.now();
      if (result === 'failed') {
        await versions.moveIfState(tx, deviceId, version, 'pending', { state: 'failed', error: (error ?? 'no detail').slice(0, 500) });
        await audit.append(tx, {
          actor,
          action: 'credential.acknowledged',
          outcome: 'failure',
          deviceId,
          target: `version:${version}`,
          reason: (error ?? 'no detail').slice(0, 500),
          context: ctx,
        });
        return;
      }
      const old = await versions.inState(tx, deviceId, 'current');
      // The old version is superseded, not deleted: the device may still hold it if this ack was wrong.
      if (old) await versions.moveIfState(tx, deviceId, old.version, 'current', { state: 'superseded', superseded_at: at.toISOString() });
      await versions.moveIfState(tx, deviceId, version, 'pending', { state: 'current', acknowledged_at: at.toISOString() });
      await deviceRepository.markRotated(tx, deviceId, at.toISOString(), new Date(at.getTime() + deps.maxAgeSeconds * 1000).toISOString());
      await audit.append(tx, {
        actor,
        action: 'credential.acknowledged',
        outcome: 'success',
        deviceId,
        target: `version:${version}`,
        details: { superseded: old?.version ?? null },
        context: ctx,
      });
    });
  }

  return { preparePassword, recordPending, summary, readSecret, fetchPending, acknowledge };
}

export type CredentialService = ReturnType<typeof createCredentialService>;
