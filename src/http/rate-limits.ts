import { NextFunction, Request, RequestHandler, Response } from 'express';
import { MemoryStore, ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log';
import { DomainError } from '../problems/problem';
import { Transactor } from '../store/transactor';

export interface RateLimitSettings {
  windowSeconds: number;
  /** Every request from one address, a ceiling against floods. */
  requestsPerAddress: number;
  /** Failed authentications (401) from one address; past it, that address is refused before any token is checked. */
  authFailuresPerAddress: number;
  grantRequestsPerPrincipal: number;
  revealsPerPrincipal: number;
}

/**
 * Abuse limits (express-rate-limit, in memory per daemon): answered with a 429 problem document and
 * Retry-After. The first refusal of each key in each window is audited, the rest only counted, so
 * a flood cannot flood the audit log too.
 */
export function createRateLimits(deps: { settings: RateLimitSettings; audit: Pick<AuditLog, 'append'>; transactor: Transactor; logger: Logger }) {
  const { settings } = deps;
  const windowMs = settings.windowSeconds * 1000;
  const audited = new Map<string, number>();
  // The address requestContext took from req.ip (which honours http.trustProxy): req.ip parses X-Forwarded-For again on every read.
  const address = (req: Request) => ipKeyGenerator(req.context.clientAddress ?? 'unknown');

  /** Answers 429 with Retry-After; the first refusal of each key in each window is audited. */
  function refuse(req: Request, res: Response, next: NextFunction, name: string, limit: number, keyValue: string, what: string, resetTime?: Date): void {
    const windowEnd = resetTime?.getTime() ?? Date.now() + windowMs;
    const retryAfter = Math.max(1, Math.ceil((windowEnd - Date.now()) / 1000));
    res.setHeader('Retry-After', String(retryAfter));
    const k = `${name}:${keyValue}`;
    if ((audited.get(k) ?? 0) < Date.now()) {
      audited.set(k, windowEnd);
      if (audited.size > 100000) audited.clear();
      const actor = req.user ? { kind: 'user' as const, subject: req.user.subject } : { kind: 'anonymous' as const, subject: 'anonymous' };
      deps.transactor
        .run(
          (tx) =>
            deps.audit.append(tx, {
              actor,
              action: 'security.rate-limited',
              outcome: 'denied',
              reason: `${what}: more than ${limit} in ${settings.windowSeconds} s`,
              details: { limit: name },
              context: req.context,
            }),
          { singleWrite: true, background: true },
        )
        .catch((e: unknown) => deps.logger.error({ err: e }, 'could not audit a rate limit'));
    }
    next(new DomainError('rate-limited', `Too many ${what}; try again in ${retryAfter} s.`));
  }

  function limiter(name: string, limit: number, key: (req: Request) => string, what: string): RequestHandler {
    return rateLimit({
      windowMs,
      limit,
      keyGenerator: key,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      handler: (req, res, next) => {
        const info = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit;
        refuse(req, res, next, name, limit, key(req), what, info?.resetTime);
      },
    });
  }

  /**
   * Failed authentications per address. express-rate-limit's own skipSuccessfulRequests counts every
   * request when it arrives and takes successes back when they finish, so many good requests in
   * flight at once (a NAT, a proxy, a slow commit) would be refused. Here only a 401 that happened
   * counts (in the library's store), and the gate reads the count before any token is looked at. A
   * burst of bad tokens sent all at once can pass the gate together; the per-address request limit
   * bounds that.
   */
  function failureLimiter(name: string, limit: number, what: string): RequestHandler {
    const failures = new MemoryStore();
    failures.init({ windowMs } as Parameters<MemoryStore['init']>[0]);
    return (req, res, next) => {
      const keyValue = address(req);
      failures.get(keyValue).then((info) => {
        if (info && info.totalHits >= limit) return refuse(req, res, next, name, limit, keyValue, what, info.resetTime);
        res.on('finish', () => {
          // A refused token whose audit failed answers 503 (fail closed), yet it is still a failed authentication.
          if (res.statusCode === 401 || res.locals.unauditedAuthFailure === true) void failures.increment(keyValue);
        });
        next();
      }, next);
    };
  }

  const principal = (req: Request) => req.user?.subject ?? `address:${address(req)}`;
  const grantRequests = limiter('grant-requests', settings.grantRequestsPerPrincipal, principal, 'grant requests');
  const reveals = limiter('reveals', settings.revealsPerPrincipal, principal, 'password reveals');
  return {
    perAddress: limiter('requests', settings.requestsPerAddress, address, 'requests from your address'),
    authFailures: failureLimiter('auth-failures', settings.authFailuresPerAddress, 'failed authentications from your address'),
    /** On the route that asks for a grant, per principal. */
    grantRequests,
    /** On the route that reveals a password, per principal. */
    reveals,
  };
}
