import { DomainError } from '../problems/problem';

/**
 * The claims challenge (RFC 6750 `insufficient_claims`, as Entra's Conditional Access auth context
 * uses it) asking the client to sign in again so that its token's `acrs` carries `authContext`.
 */
export function authContextChallenge(authContext: string): string {
  const claims = Buffer.from(JSON.stringify({ access_token: { acrs: { essential: true, value: authContext } } })).toString('base64');
  return `Bearer error="insufficient_claims", claims="${claims}"`;
}

/**
 * A valid token whose sign-in did not satisfy the authentication context an action needs: 401 with
 * a claims challenge. `alreadyAudited` once the refusal's audit event is committed.
 */
export function stepUpRequired(authContext: string, action: string, options: { alreadyAudited?: boolean } = {}): DomainError {
  return new DomainError(
    'unauthenticated',
    `${action} needs a sign-in that satisfies authentication context '${authContext}', and your token's acrs claim does not carry it. ` +
      'Sign in again answering the claims challenge in the WWW-Authenticate header, then retry.',
    { challenge: authContextChallenge(authContext), alreadyAudited: options.alreadyAudited ?? false },
  );
}

/** True when the step-up `authContext` is not required, or the principal's sign-in satisfied it. */
export function satisfiesAuthContext(p: { authContexts?: readonly string[] }, authContext: string | undefined): boolean {
  return authContext === undefined || (p.authContexts ?? []).includes(authContext);
}
