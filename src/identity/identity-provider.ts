import { UserPrincipal } from './principal';

/** Verifies a bearer token and maps its claims to a principal; local keys now, OIDC later. */
export interface IdentityProvider {
  readonly mode: string;
  /** Throws DomainError('unauthenticated') with a reason a caller may read. */
  verify(token: string): Promise<UserPrincipal>;
}
