import crypto from 'node:crypto';
import { Logger } from 'pino';
import type { RequestContext } from '../audit/audit-event';
import type { AuditLog } from '../audit/audit-log';
import type { IdentitySetup } from '../identity/identity-registry';
import type { IdentityProvider } from '../identity/identity-provider';
import type { Role, UserPrincipal } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import type { EntraSignIn } from './entra-sign-in';
import type { PortalSession, SessionService } from './session-service';
import type { SignInRepository } from './sign-in-repository';

/** The browser's session cookie: the session id, and nothing else. */
export const sessionCookie = '__Host-jitbroker-session';
/** The browser's sign-in binding cookie: the state of the one Entra sign-in it began. */
export const signInCookie = '__Host-jitbroker-sign-in';
/** How long an Entra sign-in may take, from the redirect to Entra to the callback. */
export const signInSeconds = 600;

/** The words /signed-out?error= may carry: fixed, so nothing the provider or an attacker wrote reaches a URL. */
export type SignInFailure = 'sign-in-failed' | 'sign-in-expired' | 'access-denied';

export type SessionView =
  | { signedIn: false; identityMode: string; signInPath: string }
  | {
      signedIn: true;
      identityMode: string;
      principal: { subject: string; name?: string; roles: readonly Role[]; groups: readonly string[] };
      csrfToken: string;
      expiresAt: string;
    };

export interface DevSignIn {
  subject: string;
  name?: string;
  roles: Role[];
  groups: string[];
}

const stateHashOf = (state: string) => crypto.createHash('sha256').update(`sign-in:${state}`).digest('base64url');

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** A refused sign-in: the fixed word for the URL, and the reason for the audit log. */
class SignInRefused extends Error {
  constructor(
    readonly failure: SignInFailure,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * The portal's sign-in as a backend-for-frontend: the daemon runs the Entra code flow (its pending
 * state in the store, so any daemon finishes it), verifies the access token with the same identity
 * provider as the API's bearer tokens, and hands the browser a session cookie; tokens never reach
 * the browser. In identity.mode local a development sign-in mints a local token and verifies it the
 * same way, so a principal is made one way whatever the door.
 */
export function createSignInService(deps: {
  identityMode: string;
  identity: Pick<IdentityProvider, 'verify'>;
  issueToken: IdentitySetup['issueToken'];
  /** The Entra sign-in (identity.mode oidc), or why the portal cannot sign anyone in with Entra. */
  entra: { signIn: EntraSignIn } | { missing: string };
  sessions: SessionService;
  signIns: SignInRepository;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  logger: Logger;
  sessionMaxAgeSeconds: number;
}) {
  const { identityMode, identity, sessions, signIns, transactor, audit, clock, logger } = deps;

  function viewOf(session: PortalSession | undefined): SessionView {
    if (!session) return { signedIn: false, identityMode, signInPath: '/auth/sign-in' };
    const p = session.principal;
    return {
      signedIn: true,
      identityMode,
      principal: { subject: p.subject, ...(p.name ? { name: p.name } : {}), roles: p.roles, groups: p.groups },
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt,
    };
  }

  /** Who the cookie signs in, if anyone: a signed-out visitor is not an authentication failure, and is not audited. */
  async function current(sessionId: string | undefined): Promise<SessionView> {
    return viewOf(sessionId ? await sessions.resolve(sessionId) : undefined);
  }

  /** Ends the sessions a browser held before signing in again (a step-up, another account): one session per browser. */
  async function replace(refs: ReadonlyArray<string | null | undefined>, ctx: RequestContext): Promise<void> {
    for (const ref of new Set(refs)) if (ref) await sessions.endReplaced(ref, ctx);
  }

  /** identity.mode local only (the daemon refuses local mode off loopback): signs in as whoever the developer names. */
  async function devSignIn(who: DevSignIn, oldId: string | undefined, ctx: RequestContext): Promise<{ id: string; view: SessionView }> {
    if (identityMode !== 'local') throw new DomainError('not-found', 'The development sign-in exists in identity.mode local only; sign in at /auth/sign-in.');
    const token = await deps.issueToken({ sub: who.subject, roles: who.roles, groups: who.groups, name: who.name, ttlSeconds: deps.sessionMaxAgeSeconds });
    const { principal } = await identity.verify(token);
    await replace([oldId && sessions.refOf(oldId)], ctx);
    const { id, session } = await sessions.start(principal, ctx);
    return { id, view: viewOf(session) };
  }

  /**
   * Where a browser goes to sign in: the development page (local mode), or Entra with a pending
   * sign-in stored under its state's hash; `state` goes into the binding cookie. The session the
   * browser holds now (its Strict cookie is sent on this same-site navigation, not on Entra's
   * redirect back) is noted, and ended when the new one starts.
   */
  async function begin(returnTo: string, authContext: string | undefined, sessionId: string | undefined): Promise<{ location: string; state?: string }> {
    if (identityMode === 'local') return { location: `/dev-sign-in?returnTo=${encodeURIComponent(returnTo)}` };
    if ('missing' in deps.entra) throw new DomainError('unavailable', deps.entra.missing);
    const { url, pending } = await deps.entra.signIn.begin(authContext ? { authContext } : {}).catch((e: unknown) => {
      throw new DomainError('unavailable', 'The sign-in with Microsoft Entra ID cannot start now; try again later.', { cause: e });
    });
    const held = sessionId && (await sessions.resolve(sessionId)) ? sessions.refOf(sessionId) : null;
    const now = clock.now().getTime();
    await transactor.run((tx) =>
      signIns.insert(tx, {
        state_hash: stateHashOf(pending.state),
        nonce: pending.nonce,
        code_verifier: pending.codeVerifier,
        return_to: returnTo,
        auth_context: authContext ?? null,
        replaces_session: held,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + signInSeconds * 1000).toISOString(),
      }),
    );
    return { location: url, state: pending.state };
  }

  /** The access token's principal, or the refusal: the same verification as a bearer token's. */
  async function verified(accessToken: string, authContext: string | null): Promise<{ principal: UserPrincipal; expiresAt: number }> {
    let v: { principal: UserPrincipal; expiresAt: number };
    try {
      v = await identity.verify(accessToken);
    } catch (e) {
      if (e instanceof DomainError && e.code === 'forbidden') throw new SignInRefused('access-denied', e.message);
      throw new SignInRefused('sign-in-failed', e instanceof DomainError ? e.message : 'the access token could not be verified');
    }
    // Entra enforces the context it was asked for; a token without it would only send the reveal back here, round and round.
    if (authContext && !(v.principal.authContexts ?? []).includes(authContext)) {
      throw new SignInRefused('access-denied', `the sign-in did not satisfy authentication context '${authContext}'`);
    }
    return v;
  }

  async function redeem(
    q: { code?: string; state?: string; error?: string },
    binding: string | undefined,
  ): Promise<{ principal: UserPrincipal; expiresAt: number; returnTo: string; replaces: string | null }> {
    if (!binding) throw new SignInRefused('sign-in-expired', 'no sign-in cookie came back: the sign-in began in another browser, or too long ago');
    // The state must be the one this browser began with: a callback URL planted from another sign-in (login CSRF) is refused.
    if (!q.state || !sameText(q.state, binding)) throw new SignInRefused('sign-in-failed', "the callback's state is not the one this browser's sign-in began with");
    // Taken (deleted) before anything else is checked: a state is good for one try, whatever its outcome.
    const pending = await transactor.run((tx) => signIns.take(tx, stateHashOf(q.state as string)));
    if (!pending) throw new SignInRefused('sign-in-expired', 'the sign-in is unknown or was already finished');
    if (clock.now().getTime() >= Date.parse(pending.expires_at)) throw new SignInRefused('sign-in-expired', `the sign-in was not finished within ${signInSeconds} seconds`);
    if (q.error !== undefined) {
      // OAuth error codes are lower-case words; anything else is not repeated, even in the audit log.
      const code = /^[a-z_]{1,64}$/.test(q.error) ? q.error : '(not an OAuth error code)';
      throw new SignInRefused(q.error === 'access_denied' ? 'access-denied' : 'sign-in-failed', `the identity provider answered error ${code}`);
    }
    if (!q.code) throw new SignInRefused('sign-in-failed', 'the callback carried no authorization code');
    if ('missing' in deps.entra) throw new SignInRefused('sign-in-failed', deps.entra.missing);
    let accessToken: string;
    try {
      ({ accessToken } = await deps.entra.signIn.complete(q.code, { state: q.state, nonce: pending.nonce, codeVerifier: pending.code_verifier }));
    } catch (e) {
      // The provider's own words go to the operators' log only; the audit says what failed.
      logger.warn({ err: e }, 'portal sign-in: the authorization code could not be redeemed');
      throw new SignInRefused('sign-in-failed', 'the authorization code could not be redeemed at the identity provider');
    }
    return { ...(await verified(accessToken, pending.auth_context)), returnTo: pending.return_to, replaces: pending.replaces_session };
  }

  /**
   * The browser's return from Entra: its state checked against the binding cookie and a live
   * pending sign-in (consumed), the code redeemed, the token verified, a new session started (the
   * old one, if any, ended). A refusal is audited as auth.failed and answered by a fixed word.
   */
  async function finish(
    q: { code?: string; state?: string; error?: string },
    binding: string | undefined,
    oldId: string | undefined,
    ctx: RequestContext,
  ): Promise<{ ok: true; id: string; returnTo: string } | { ok: false; failure: SignInFailure }> {
    try {
      const { principal, expiresAt, returnTo, replaces } = await redeem(q, binding);
      await replace([replaces, oldId && sessions.refOf(oldId)], ctx);
      const { id } = await sessions.start(principal, ctx, { authContextsUntil: expiresAt });
      return { ok: true, id, returnTo };
    } catch (e) {
      if (!(e instanceof SignInRefused)) throw e;
      // Fail closed: a refusal that cannot be audited answers 503, not a redirect nobody can find in the log.
      await transactor.run(
        (tx) =>
          audit.append(tx, {
            actor: { kind: 'anonymous', subject: 'anonymous' },
            action: 'auth.failed',
            outcome: 'denied',
            target: 'GET /auth/callback',
            reason: e.message,
            details: { credential: 'portal', failure: e.failure },
            context: ctx,
          }),
        { singleWrite: true },
      );
      return { ok: false, failure: e.failure };
    }
  }

  async function signOut(id: string, principal: UserPrincipal, ctx: RequestContext): Promise<void> {
    await sessions.end(id, principal, ctx);
  }

  /** Forgets sign-ins abandoned at Entra's login page, and sessions that ended or expired a day ago. */
  async function prune(): Promise<number> {
    const signInsPruned = await transactor.run((tx) => signIns.prune(tx, clock.now().toISOString()));
    return signInsPruned + (await sessions.prune());
  }

  return { current, devSignIn, begin, finish, signOut, prune, resolve: sessions.resolve, csrfMatches: sessions.csrfMatches };
}

export type SignInService = ReturnType<typeof createSignInService>;
