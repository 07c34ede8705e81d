import { UserPrincipal } from './principal';

/** What a verified bearer token says: who, and until when (seconds since the epoch). */
export interface VerifiedToken {
  principal: UserPrincipal;
  expiresAt: number;
}

/** Verifies a bearer token and maps its claims to a principal; local keys or an OIDC issuer. */
export interface IdentityProvider {
  readonly mode: string;
  /**
   * Throws DomainError('unauthenticated') with a reason a caller may read (or 'forbidden' for a
   * genuine token the broker cannot use, 'unavailable' when the provider's keys cannot be had).
   */
  verify(token: string): Promise<VerifiedToken>;
  /** Throws when tokens cannot be verified now (for /readyz); absent when nothing outside can fail. */
  check?(): Promise<void>;
}
