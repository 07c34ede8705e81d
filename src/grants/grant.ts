import { DomainError } from '../problems/problem';
import { Role, UserPrincipal, sharesLogin } from '../identity/principal';
import { parseDurationSeconds } from '../time/duration';
export const grantStates = ['pending', 'active', 'denied', 'expired', 'revoked'] as const;
export type GrantState = (typeof grantStates)[number];

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

export function assertCanMove(g: Pick<Grant, 'id' | 'state'>, to: GrantState): void {
  if (!allowedNext[g.state].includes(to)) throw new DomainError('conflict', `Grant ${g.id} is ${g.state}; it cannot become ${to}.`);
}

/** Active and not past its expiry at `now`: the only state in which a password is revealed. */
export function isLive(g: Pick<Grant, 'state' | 'expiresAt'>, now: Date): boolean {
  return g.state === 'active' && g.expiresAt !== null && now.toISOString() < g.expiresAt;
}

/** Approved by someone (or active without needing it): what a decision reads as the request's approval. */
export const approvedOf = (g: Pick<Grant, 'decidedBy'>) => g.decidedBy !== null;

/** A grant's request, as a decision reads it; a duration that no longer parses (past the bound) is allowed by no policy. */
export const requestOf = (g: Pick<Grant, 'duration' | 'ticket'>, deviceGroups: readonly string[], approved: boolean) => ({
  deviceGroups,
  durationSeconds: parseDurationSeconds(g.duration) ?? Number.POSITIVE_INFINITY,
  ticket: g.ticket ?? undefined,
  approved,
});

/**
 * True when `p` asked for this grant themselves: the same subject, or the same person under another
 * tenant's object id (a B2B guest), who has the same sign-in name. Such a person never decides it.
 */
export function isOwnRequest(requester: Pick<GrantRequester, 'subject' | 'logins'>, p: Pick<UserPrincipal, 'subject' | 'logins'>): boolean {
  return requester.subject === p.subject || sharesLogin(requester.logins, p.logins);
}
