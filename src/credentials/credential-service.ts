import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { VaultBackend } from '../vault/vault-backend';
import { CredentialRepository } from './credential-repository';
import { CredentialVersion, RotationReason } from './credential-version';
import { PasswordPolicy, generatePassword, policyForDevice } from './password-generator';
import { Secret } from '../secrets/secret';

export type { RotationReason } from './credential-version';

export interface PreparedVersion {
  deviceId: string;
  version: number;
  ref: string;
  reason: RotationReason;
}

/** Password versions and the vault: generate, store, read back. The lifecycle lives in the rotation service. */
export function createCredentialService(deps: {
  db: Db;
  versions: CredentialRepository;
  vault: VaultBackend;
  clock: Clock;
  passwords: { defaults: PasswordPolicy; byGroup: Readonly<Record<string, Partial<PasswordPolicy>>> };
}) {
  const { db, versions, vault, clock } = deps;

  /**
   * Generates a password under the device's policy and writes it to the vault under the next
   * version number. Nothing points at it until `recordPending` commits, so a crash in between
   * leaves a vault entry no device ever received; the retry writes the same version again.
   */
  async function preparePassword(deviceId: string, groups: readonly string[], reason: RotationReason): Promise<PreparedVersion> {
    const version = await versions.nextVersion(db, deviceId);
    const password = generatePassword(policyForDevice(groups, deps.passwords.defaults, deps.passwords.byGroup));
    let ref: string;
    try {
      ref = await vault.put({ deviceId, version }, password);
    } catch (e) {
      throw new DomainError('unavailable', 'The vault did not store the new password; nothing changed.', { cause: e });
    }
    return { deviceId, version, ref, reason };
  }

  /**
   * With a vault in the broker's own store: generates the password, writes it and records it as
   * the pending version, all in the caller's transaction. Undefined for a remote vault, where
   * `preparePassword` writes first and `recordPending` follows.
   */
  const writePendingInTransaction = vault.putInTransaction
    ? async (tx: Tx, deviceId: string, groups: readonly string[], reason: RotationReason): Promise<PreparedVersion> => {
        const version = await versions.nextVersion(tx, deviceId);
        const password = generatePassword(policyForDevice(groups, deps.passwords.defaults, deps.passwords.byGroup));
        let ref: string;
        try {
          ref = await (vault.putInTransaction as NonNullable<VaultBackend['putInTransaction']>)(tx, { deviceId, version }, password);
        } catch (e) {
          throw new DomainError('unavailable', 'The vault did not store the new password; nothing changed.', { cause: e });
        }
        const prepared = { deviceId, version, ref, reason };
        await recordPending(tx, prepared);
        return prepared;
      }
    : undefined;

  /** Records a prepared password as the device's pending version, in the caller's transaction. */
  async function recordPending(tx: Tx, p: PreparedVersion): Promise<void> {
    await versions.insert(tx, {
      deviceId: p.deviceId,
      version: p.version,
      state: 'pending',
      reason: p.reason,
      vaultRef: p.ref,
      createdAt: clock.now().toISOString(),
      fetchedAt: null,
      acknowledgedAt: null,
      supersededAt: null,
      error: null,
      vaultPrunedAt: null,
      revealedAt: null,
    });
  }

  /** A version's password from the vault; an unreadable vault is `unavailable` (no audit: the caller audits). */
  async function readSecret(v: CredentialVersion): Promise<Secret> {
    let secret: Secret | undefined;
    try {
      secret = await vault.get({ deviceId: v.deviceId, version: v.version }, v.vaultRef);
    } catch (e) {
      throw new DomainError('unavailable', 'The vault could not be read; nothing was revealed.', { cause: e });
    }
    if (!secret) throw new DomainError('unavailable', `The vault holds no password for version ${v.version}; nothing was revealed.`);
    return secret;
  }

  /** The versions a device view shows: current and pending numbers, never a secret. */
  async function versionSummary(deviceId: string): Promise<{ currentVersion: number | null; pendingVersion: number | null }> {
    const [current, pending] = await Promise.all([versions.inState(db, deviceId, 'current'), versions.pending(db, deviceId)]);
    return { currentVersion: current?.version ?? null, pendingVersion: pending?.version ?? null };
  }

  /** Records, in the reveal's transaction, that a requester was shown these versions: each is now a used password. */
  async function markRevealed(tx: Tx, deviceId: string, shown: readonly number[], at: Date): Promise<void> {
    await versions.markRevealed(tx, deviceId, shown, at.toISOString());
  }

  /** The current or pending version of a device a requester was shown, if any. */
  async function revealedInEffect(tx: Tx, deviceId: string): Promise<CredentialVersion | undefined> {
    return versions.revealedInEffect(tx, deviceId);
  }

  /** The device's first version newer than `afterVersion` its agent acknowledged (set) at or after `at`: what replaced a password in use then. */
  async function firstAcknowledgedSince(deviceId: string, at: string, afterVersion: number): Promise<CredentialVersion | undefined> {
    return versions.firstAcknowledgedSince(db, deviceId, at, afterVersion);
  }

  return { preparePassword, recordPending, writePendingInTransaction, readSecret, versionSummary, markRevealed, revealedInEffect, firstAcknowledgedSince };
}

export type CredentialService = ReturnType<typeof createCredentialService>;
