import { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log';
import { IdentityProvider } from '../identity/identity-provider';
import { DeviceIdentity } from '../identity/device-identity';
import { DomainError, ProblemCode } from '../problems/problem';
import { Transactor } from '../store/transactor';
import type { AuthFailureLimit } from './rate-limits';
import { cookiesOf } from './cookies';
import { type SignInService, sessionCookie } from '../portal/sign-in-service';

// Only `Authorization: Bearer <jwt>`: a token in a query string or without the scheme is ignored.
const bearer = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

function tokenOf(req: Request): string {
  const header = req.get('authorization');
  if (!header) throw new DomainError('unauthenticated', 'A bearer token is required: send Authorization: Bearer <token>.');
  const m = bearer.exec(header);
  if (!m) throw new DomainError('unauthenticated', 'The Authorization header must be "Bearer <JWT>".');
  return m[1] as string;
}

/** Where a refused authentication is recorded, and counted against its address. */
export interface AuthAudit {
  audit: Pick<AuditLog, 'append'>;
  transactor: Transactor;
  logger: Logger;
  failures: AuthFailureLimit;
}

// A token the provider could not check (503) is not a refusal: it is answered, not audited as one.
const refusals: ReadonlySet<ProblemCode> = new Set(['unauthenticated', 'forbidden']);

/**
 * Audits a refused credential as `auth.failed` before the 401 leaves. The caller is anonymous and
 * the reason is the refusal's own text: never the token, nor any claim of a token that did not
 * verify. Fail closed, like every other decision: when the event cannot be written the answer is
 * 503 `unavailable`, not a 401 nobody can later find in the log.
 *
 * A failed credential counts against its address's limit on failed authentications first (only
 * here, after the check: a valid credential never meets that limit); past it, the answer is that
 * limit's 429, audited once per window rather than each as auth.failed.
 */
async function auditRefusal(deps: AuthAudit, req: Request, res: Response, e: unknown, credential: 'user' | 'session' | 'device'): Promise<unknown> {
  if (!(e instanceof DomainError) || !refusals.has(e.code)) return e;
  if (e.code === 'unauthenticated') {
    const limited = await deps.failures.failed(req, res);
    if (limited) return limited;
  }
  try {
    await deps.transactor.run(
      (tx) =>
        deps.audit.append(tx, {
          actor: { kind: 'anonymous', subject: 'anonymous' },
          action: 'auth.failed',
          outcome: 'denied',
          target: `${req.method} ${req.originalUrl.split('?')[0]}`.slice(0, 200),
          reason: e.message,
          details: { credential },
          context: req.context,
        }),
      { singleWrite: true, background: true },
    );
  } catch (auditError) {
    deps.logger.error({ err: auditError, requestId: req.context?.requestId }, 'could not audit a failed authentication');
    // Refused as unavailable because it could not be audited: not audited again by the error handler.
    return new DomainError('unavailable', 'The audit log is unavailable; the request was refused.', { alreadyAudited: true });
  }
  // Audited above as auth.failed: the error handler must not audit it again.
  return e.audited();
}

/** The portal's sessions, as a credential: the cookie's session, and the origin its state-changing requests must come from. */
export interface SessionAuth {
  sessions: Pick<SignInService, 'resolve' | 'csrfMatches'>;
  /** portal.publicOrigin; when unset, the origin the request itself was sent to. */
  publicOrigin?: string;
}

const unsafeMethods: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Refuses a request that a browser sent from another origin, or without saying which (every
 * browser sends Origin on a POST, PUT, PATCH or DELETE): the cross-site request forgery defence of
 * what the session cookie authorises, and of the development sign-in (login CSRF).
 */
export function sameOriginProblem(req: Request, publicOrigin: string | undefined): DomainError | undefined {
  const origin = req.get('origin');
  const expected = publicOrigin ?? `${req.protocol}://${req.get('host') ?? ''}`;
  if (origin === undefined)
    return new DomainError('forbidden', 'A state-changing request from the portal must carry an Origin header (a defence against cross-site request forgery); this one has none.');
  if (origin !== expected)
    return new DomainError(
      'forbidden',
      "The request's Origin is not the portal's: a state-changing request is accepted from the portal's own pages only (cross-site request forgery).",
    );
  return undefined;
}

export function requireSameOrigin(publicOrigin: string | undefined) {
  return (req: Request, _res: Response, next: NextFunction): void => next(sameOriginProblem(req, publicOrigin));
}

/** The principal of a request's portal session cookie, with the CSRF checks of a state-changing request. */
async function sessionPrincipal(portal: SessionAuth, req: Request, res: Response, id: string) {
  // Whatever a cookie-authenticated answer holds, no browser or proxy keeps it.
  res.setHeader('Cache-Control', 'no-store');
  // The portal marks what its pages fetch by themselves (polls): those do not keep an idle session alive.
  const session = await portal.sessions.resolve(id, { activity: req.get('x-portal-background') !== '1' });
  if (!session) throw new DomainError('unauthenticated', 'Your portal session has ended (signed out, idle too long or past its maximum age); sign in again.');
  if (unsafeMethods.has(req.method)) {
    const crossSite = sameOriginProblem(req, portal.publicOrigin);
    if (crossSite) throw crossSite;
  }
  // On every method, reads too: a reveal and an export are GETs that write to the audit log, and a
  // page on a sibling site (same site, so SameSite=Strict still sends the cookie) could make the
  // browser send one by a plain link. Only the portal's own scripts know the token.
  if (!portal.sessions.csrfMatches(session, req.get('x-csrf-token'))) {
    throw new DomainError(
      'forbidden',
      "The X-CSRF-Token header is missing or is not this session's token (GET /auth/session gives it): every request made with the session cookie needs it.",
    );
  }
  // The actor is the server-side session's principal, never anything the browser sends.
  return session.principal;
}

/**
 * The one authentication of a person: `Authorization: Bearer` when the request has one (API
 * clients, the CLI), else the portal's session cookie. With `bearer: false`, the cookie only (the
 * portal's sign-out: there is no session to end without it). A refusal is audited as auth.failed.
 */
export function authenticateUser(identity: Pick<IdentityProvider, 'verify'>, audit: AuthAudit, portal?: SessionAuth, opts: { bearer: boolean } = { bearer: true }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    let credential: 'user' | 'session' = 'user';
    Promise.resolve()
      .then(async () => {
        const id = portal ? cookiesOf(req)[sessionCookie] : undefined;
        if (portal && id && !(opts.bearer && req.get('authorization') !== undefined)) {
          credential = 'session';
          return sessionPrincipal(portal, req, res, id);
        }
        if (!opts.bearer) throw new DomainError('unauthenticated', 'This needs the portal session cookie: sign in at /auth/sign-in.');
        return (await identity.verify(tokenOf(req))).principal;
      })
      .then(
        (principal) => {
          req.user = principal;
          next();
        },
        (e: unknown) => auditRefusal(audit, req, res, e, credential).then(next, next),
      );
  };
}

export function authenticateDevice(devices: Pick<DeviceIdentity, 'verify'>, audit: AuthAudit) {
  return (req: Request, res: Response, next: NextFunction): void => {
    Promise.resolve()
      .then(() => devices.verify(tokenOf(req)))
      .then(
        (d) => {
          req.device = d;
          next();
        },
        (e: unknown) => auditRefusal(audit, req, res, e, 'device').then(next, next),
      );
  };
}
