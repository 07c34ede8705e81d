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
  /**
   * The person's sign-in names (UPN, e-mail), normalised by `loginNamesOf`: the same person in
   * another tenant (a B2B guest) has another object id but the same home sign-in name.
   */
  logins?: readonly string[];
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

/**
 * The sign-in names a token carries (`upn`, `preferred_username`, `email`, `unique_name`), lower
 * case, each guest form `alice_contoso.com#EXT#@fabrikam.onmicrosoft.com` turned back into the home
 * name `alice@contoso.com`. Used only to refuse (a requester approving their own request under
 * another tenant's object id), never to grant anything, so a name that is missing or changed can
 * only let a check fall back to the object id, not widen access.
 */
export function loginNamesOf(claims: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const claim of ['upn', 'preferred_username', 'email', 'unique_name']) {
    const v = claims[claim];
    if (typeof v !== 'string' || v.length > 256 || !v.includes('@')) continue;
    let name = v.trim().toLowerCase();
    const ext = name.indexOf('#ext#');
    if (ext > 0) {
      const local = name.slice(0, ext);
      const at = local.lastIndexOf('_');
      if (at > 0) name = `${local.slice(0, at)}@${local.slice(at + 1)}`;
    }
    names.add(name);
  }
  return [...names];
}

/** True when two principals' sign-in names name the same person. */
export function sharesLogin(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return !!a && !!b && a.some((n) => b.includes(n));
}
