import { Request, RequestHandler, Response } from 'express';
import { MemoryStore, ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log';
import { DomainError } from '../problems/problem';
import { Transactor } from '../store/transactor';

/** For the authentication middleware, once a credential has failed its check. */
export interface AuthFailureLimit {
  /** Counts the failure; returns the 429 to answer instead when its address is past the limit. */
  failed(req: Request, res: Response): Promise<DomainError | undefined>;
}

/** The per-principal limits a route declaration may name (its `limit`). */
export type LimitClass = 'grantRequests' | 'reveals';

export interface RateLimitSettings {
  windowSeconds: number;
  /** Every request from one address, a ceiling against floods. */
  requestsPerAddress: number;
  /** Failed authentications (401) from one address; past it, that address's failed ones answer 429 (valid credentials still pass). */
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

  /** The 429 to answer, with Retry-After set; the first refusal of each key in each window is audited. */
  function refusal(req: Request, res: Response, name: string, limit: number, keyValue: string, what: string, resetTime?: Date): DomainError {
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
    return new DomainError('rate-limited', `Too many ${what}; try again in ${retryAfter} s.`);
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
        next(refusal(req, res, name, limit, key(req), what, info?.resetTime));
      },
    });
  }

  /**
   * Failed authentications per address, asked by the authentication middleware only once a
   * credential has failed its check: a valid token or agent JWT is never refused by it, so one
   * client sending bad tokens from behind a helpdesk's NAT or proxy does not lock out the users
   * and agents behind the same address. Past the limit, that address's failures answer 429
   * instead of 401 (audited once per window, not each as auth.failed). The count and the check
   * are one step, so a burst of bad tokens sent at once cannot pass the limit together.
   *
   * Keyed on the address alone, not on a failed token's sub or kid: those claims did not verify,
   * so they are the sender's to choose; keyed on them, a flood would spread itself over made-up
   * keys, or spend a victim's allowance under the victim's name.
   *
   * The cost of checking a credential past the limit stays bounded: the per-address request
   * limit still applies, a malformed token fails before any signature check, and a valid one
   * reused is a cache hit (identity.verifyCache; failures are not cached).
   */
  function failureLimit(name: string, limit: number, what: string): AuthFailureLimit {
    const failures = new MemoryStore();
    failures.init({ windowMs } as Parameters<MemoryStore['init']>[0]);
    return {
      async failed(req, res) {
        const keyValue = address(req);
        const { totalHits, resetTime } = await failures.increment(keyValue);
        return totalHits > limit ? refusal(req, res, name, limit, keyValue, what, resetTime) : undefined;
      },
    };
  }

  const principal = (req: Request) => req.user?.subject ?? `address:${address(req)}`;
  /** Per principal, each on the routes whose declaration names it. */
  const perRoute: Record<LimitClass, RequestHandler> = {
    grantRequests: limiter('grant-requests', settings.grantRequestsPerPrincipal, principal, 'grant requests'),
    reveals: limiter('reveals', settings.revealsPerPrincipal, principal, 'password reveals'),
  };
  return {
    perAddress: limiter('requests', settings.requestsPerAddress, address, 'requests from your address'),
    authFailures: failureLimit('auth-failures', settings.authFailuresPerAddress, 'failed authentications from your address'),
    perRoute,
  };
}
