import { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log';
import { IdentityProvider } from '../identity/identity-provider';
import { DeviceIdentity } from '../identity/device-identity';
import { DomainError, ProblemCode } from '../problems/problem';
import { Transactor } from '../store/transactor';
import type { AuthFailureLimit } from './rate-limits';

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
async function auditRefusal(deps: AuthAudit, req: Request, res: Response, e: unknown, credential: 'user' | 'device'): Promise<unknown> {
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

export function authenticateUser(identity: Pick<IdentityProvider, 'verify'>, audit: AuthAudit) {
  return (req: Request, res: Response, next: NextFunction): void => {
    Promise.resolve()
      .then(() => identity.verify(tokenOf(req)))
      .then(
        ({ principal }) => {
          req.user = principal;
          next();
        },
        (e: unknown) => auditRefusal(audit, req, res, e, 'user').then(next, next),
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
