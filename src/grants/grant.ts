import { DomainError } from '../problems/problem';
import { Role } from '../identity/principal';
import { GrantTable } from '../store/schema';

export type GrantState = GrantTable['state'];
export const grantStates = ['pending', 'active', 'denied', 'expired', 'revoked'] as const satisfies readonly GrantState[];

/** The grant state machine as data; a requester may withdraw a pending request (pending → revoked). */
export const allowedNext: Record<GrantState, readonly GrantState[]> = {
  pending: ['active', 'denied', 'revoked'],
  active: ['expired', 'revoked'],
  denied: [],
  expired: [],
  revoked: [],
};

export interface Grant {
  id: string;
  requester: string;
  requesterName: string | null;
  deviceId: string;
  reason: string;
  ticket: string | null;
  duration: string;
  state: GrantState;
  policyId: string;
  createdAt: string;
  activatedAt: string | null;
  expiresAt: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionComment: string | null;
  endedBy: string | null;
  endedAt: string | null;
  endReason: string | null;
  /** The credential version last shown under this grant: set, the password is used and dies with the grant. */
  revealedVersion: number | null;
}

/** A grant's requester as their request was decided: what policies designate by, and their sign-in names. */
export interface GrantRequester {
  subject: string;
  groups: readonly string[];
  roles: readonly Role[];
  logins: readonly string[];
  /** False for grants made before the requester's groups and roles were kept: decided by subject alone. */
  known: boolean;
}

const jsonList = (v: string | null): string[] => (v === null ? [] : (JSON.parse(v) as string[]));

export function requesterFromRow(r: GrantTable): GrantRequester {
  return {
    subject: r.requester,
    groups: jsonList(r.requester_groups),
    roles: jsonList(r.requester_roles) as Role[],
    logins: jsonList(r.requester_logins),
    known: r.requester_groups !== null,
  };
}

export function grantFromRow(r: GrantTable): Grant {
  return {
    id: r.id,
    requester: r.requester,
    requesterName: r.requester_name,
    deviceId: r.device_id,
    reason: r.reason,
    ticket: r.ticket,
    duration: r.duration,
    state: r.state,
    policyId: r.policy_id,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    expiresAt: r.expires_at,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    decisionComment: r.decision_comment,
    endedBy: r.ended_by,
    endedAt: r.ended_at,
    endReason: r.end_reason,
    revealedVersion: r.revealed_version,
  };
}

export function assertCanMove(g: Pick<Grant, 'id' | 'state'>, to: GrantState): void {
  if (!allowedNext[g.state].includes(to)) throw new DomainError('conflict', `Grant ${g.id} is ${g.state}; it cannot become ${to}.`);
}

/** Active and not past its expiry at `now`: the only state in which a password is revealed. */
export function isLive(g: Pick<Grant, 'state' | 'expiresAt'>, now: Date): boolean {
  return g.state === 'active' && g.expiresAt !== null && now.toISOString() < g.expiresAt;
}
