import { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { AuditActor } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { DomainError, FieldError, ProblemCode, toProblem } from '../problems/problem';
import { storeUnavailable } from '../store/store-fault';
import { StoreHealth } from '../store/store-health';
import { Transactor } from '../store/transactor';

const bodyParserCodes: Record<string, { code: ProblemCode; detail: string }> = {
  'entity.too.large': { code: 'payload-too-large', detail: 'The request body is larger than 64 KiB.' },
  'entity.parse.failed': { code: 'invalid-request', detail: 'The request body is not valid JSON.' },
  'encoding.unsupported': { code: 'unsupported-media-type', detail: 'The request body encoding is not supported.' },
  'charset.unsupported': { code: 'unsupported-media-type', detail: 'The request body must be UTF-8 JSON.' },
};

/**
 * What the client sent wrong before any route saw it, found by what the parser threw: a path
 * segment that is not valid percent-encoding (express's router throws a URIError decoding it), or a
 * body its Content-Encoding does not describe (zlib's Z_* errors, passed on by the body parser).
 * Anything else unknown is ours, and answers 500.
 */
function malformedRequest(err: unknown): { code: ProblemCode; detail: string; errors?: FieldError[] } | undefined {
  const e = err as { name?: unknown; code?: unknown; type?: unknown; status?: unknown } | undefined;
  if (typeof e?.type === 'string' && bodyParserCodes[e.type]) return bodyParserCodes[e.type];
  if (e?.name === 'URIError' && e.status === 400) {
    return { code: 'invalid-request', detail: 'The URL path is not valid percent-encoded UTF-8.', errors: [{ path: 'params', message: 'not valid percent-encoded UTF-8' }] };
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return {
      code: 'invalid-request',
      detail: 'The request body is not valid for its Content-Encoding.',
      errors: [{ path: 'body', message: 'cannot be decoded as its Content-Encoding says' }],
    };
  }
  return undefined;
}

const authorisationFailures: ReadonlySet<ProblemCode> = new Set(['unauthenticated', 'forbidden', 'policy-denied']);

function actorOfRequest(req: Request): AuditActor {
  if (req.user) return { kind: 'user', subject: req.user.subject, ...(req.user.name ? { name: req.user.name } : {}), ...(req.user.tenant ? { tenant: req.user.tenant } : {}) };
  if (req.device) return { kind: 'device', subject: req.device.deviceId };
  return { kind: 'anonymous', subject: 'anonymous' };
}

/**
 * The one error handler: maps a DomainError's code to its problem document, audits every
 * authorisation failure not yet audited, and answers anything unknown as `internal` with the
 * request id only (the full error goes to the log, which redacts secrets).
 */
export function createErrorHandler(deps: { audit: Pick<AuditLog, 'append'>; transactor: Transactor; logger: Logger; storeHealth?: Pick<StoreHealth, 'unavailable'> }) {
  return (thrown: unknown, req: Request, res: Response, _next: NextFunction): void => {
    // Any store call can fail for an outage, reads included (a reveal's read before its transaction):
    // that is 503 unavailable, never 500, and it is logged once per cause, not once per request.
    const outage = !(thrown instanceof DomainError) && deps.storeHealth?.unavailable(thrown) === true;
    const err = outage ? storeUnavailable(thrown) : thrown;
    void (async () => {
      const requestId = req.context?.requestId;
      let problem: ReturnType<typeof toProblem>;
      const malformed = malformedRequest(err);
      if (err instanceof DomainError) {
        problem = toProblem(err.code, err.message, requestId, err.errors);
        if (authorisationFailures.has(err.code) && !err.alreadyAudited) {
          try {
            await deps.transactor.run((tx) =>
              deps.audit.append(tx, {
                actor: actorOfRequest(req),
                action: 'authorization.failed',
                outcome: 'denied',
                target: `${req.method} ${req.baseUrl}${req.route?.path ?? req.path}`.slice(0, 200),
                reason: err.message,
                context: req.context,
              }),
            );
          } catch (auditError) {
            deps.logger.error({ err: auditError, requestId }, 'audit append failed for an authorisation failure');
            problem = toProblem('unavailable', 'The audit log is unavailable; the request was refused.', requestId);
          }
        }
        const cause = err.cause;
        const loggedByCause = outage || (cause !== undefined && deps.storeHealth?.unavailable(cause) === true);
        if (problem.status >= 500 && !loggedByCause) deps.logger.error({ err: cause ?? err, requestId }, err.message);
      } else if (malformed) {
        problem = toProblem(malformed.code, malformed.detail, requestId, malformed.errors);
      } else {
        deps.logger.error({ err, requestId }, 'unhandled error');
        problem = toProblem('internal', 'Something went wrong on our side; quote the request id to the operators.', requestId);
      }
      if (res.headersSent) return;
      // A step-up refusal tells the client which claims to come back with (RFC 6750 insufficient_claims).
      const challenge = err instanceof DomainError ? err.challenge : undefined;
      // Every other 401 names the scheme (RFC 6750 §3); the detail stays in the problem document, not the header.
      if (problem.status === 401) {
        const plain = req.get('authorization') ? 'Bearer realm="jitbroker", error="invalid_token"' : 'Bearer realm="jitbroker"';
        res.setHeader('WWW-Authenticate', challenge ?? plain);
      }
      res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
    })();
  };
}
