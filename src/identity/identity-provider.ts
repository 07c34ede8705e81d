import { UserPrincipal } from './principal';

/** What a verified bearer token says: who, and until when (seconds since the epoch). */
export interface VerifiedToken {
  principal: UserPrincipal;
  expiresAt: number;
}

/** Verifies a bearer token and maps its claims to a principal; local keys now, OIDC later. */
export interface IdentityProvider {
  readonly mode: string;
  /** Throws DomainError('unauthenticated') with a reason a caller may read. */
  verify(token: string): Promise<VerifiedToken>;
}
