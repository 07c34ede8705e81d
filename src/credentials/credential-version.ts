import { DomainError } from '../problems/problem';

/** Why a version was made: enrolment, the schedule, a grant under which it was used, an admin. */
export const rotationReasons = ['initial', 'scheduled', 'post-use', 'manual'] as const;
export type RotationReason = (typeof rotationReasons)[number];

/** A rotation job is open until it ends: done (rotated, merged into a pending version, or cancelled), or failed. */
export const rotationJobStates = ['open', 'done', 'failed'] as const;
export type RotationJobState = (typeof rotationJobStates)[number];
/** How a done job ended: rotated (a new pending version), merged (one was already pending), cancelled (device retired). */
export type RotationJobOutcome = 'rotated' | 'merged' | 'cancelled';

export const credentialVersionStates = ['pending', 'current', 'superseded', 'failed'] as const;
export type CredentialVersionState = (typeof credentialVersionStates)[number];

/**
 * A credential version's lifecycle as data. Pending until the device's agent acknowledges it: set,
 * it becomes current (and the current one is superseded in the same transaction); not set, failed.
 * Superseded and failed versions stay in the vault for recovery until history prunes them.
 */
export const allowedNextVersionState: Record<CredentialVersionState, readonly CredentialVersionState[]> = {
  pending: ['current', 'failed'],
  current: ['superseded'],
  superseded: [],
  failed: [],
};

export function assertCanMoveVersion(v: { deviceId: string; version: number; state: CredentialVersionState }, to: CredentialVersionState): void {
  if (!allowedNextVersionState[v.state].includes(to)) throw new DomainError('conflict', `Version ${v.version} of device '${v.deviceId}' is ${v.state}; it cannot become ${to}.`);
}

/** One password version of a device: where the vault keeps it and how far its rotation got, never the password. */
export interface CredentialVersion {
  deviceId: string;
  version: number;
  state: CredentialVersionState;
  reason: RotationReason;
  vaultRef: string;
  createdAt: string;
  /** The agent's first fetch: from then on the device may hold this password. */
  fetchedAt: string | null;
  acknowledgedAt: string | null;
  supersededAt: string | null;
  error: string | null;
  vaultPrunedAt: string | null;
  /** When a requester was first shown this version while it was pending or current (a used password). */
  revealedAt: string | null;
}

/**
 * Which of a device's versions a reveal shows: the current one; beside it (or instead, when none is
 * current) a pending one the agent fetched at least ackTimeout ago and never confirmed.
 */
export function versionsToShow(
  versions: readonly CredentialVersion[],
  now: Date,
  ackTimeoutSeconds: number,
): { shown?: CredentialVersion; pending?: CredentialVersion; alsoPending?: CredentialVersion } {
  const current = versions.find((v) => v.state === 'current');
  // A lost acknowledgement must not leave the requester without a working password: a version the
  // agent fetched and never confirmed within ackTimeout may be the one the device now has.
  const pending = versions.find((v) => v.state === 'pending' && v.fetchedAt !== null && now.getTime() - Date.parse(v.fetchedAt) >= ackTimeoutSeconds * 1000);
  return { shown: current ?? pending, pending, alsoPending: current && pending ? pending : undefined };
}
