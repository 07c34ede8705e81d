export const roles = ['requester', 'approver', 'admin', 'auditor'] as const;
export type Role = (typeof roles)[number];

/** A person, from a verified token. */
export interface UserPrincipal {
  kind: 'user';
  subject: string;
  name?: string;
  tenant?: string;
  roles: readonly Role[];
  groups: readonly string[];
  /** Conditional Access authentication contexts the sign-in satisfied (Entra's `acrs`), for step-up checks. */
  authContexts?: readonly string[];
}

/** A device agent, from a JWT signed with its enrolled key. */
export interface DevicePrincipal {
  kind: 'device';
  deviceId: string;
}

export function hasRole(p: UserPrincipal, role: Role): boolean {
  return p.roles.includes(role);
}

import { DomainError } from '../problems/problem';

/** Throws `forbidden` unless the principal holds one of the roles. */
export function requireRole(p: UserPrincipal, ...allowed: Role[]): void {
  if (!allowed.some((r) => p.roles.includes(r))) {
    throw new DomainError('forbidden', `This needs the ${allowed.join(' or ')} role; your token carries ${p.roles.length ? p.roles.join(', ') : 'no role'}.`);
  }
}
