import { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { Metrics } from '../metrics/metrics';

/**
 * The route as declared (the mount's prefix and the route's pattern), never the path: ids in a
 * label would make one series per device or grant, and a caller's spelling one per spelling. A
 * request no route took is `<prefix>/*` inside a mount (refused before its route: 401, 429, 404)
 * and `(unmatched)` outside, so the set of labels is fixed by the code. The portal names its own
 * two (`(portal page)`, `(portal asset)`) in `res.locals.routeLabel`.
 */
function routeLabel(req: Request, res: Response): string {
  if (typeof res.locals.routeLabel === 'string') return res.locals.routeLabel;
  const prefix = typeof res.locals.routePrefix === 'string' ? res.locals.routePrefix : '';
  if (req.route) return `${prefix}${String(req.route.path)}`;
  return prefix ? `${prefix}/*` : '(unmatched)';
}

/**
 * One log line per request when its response finishes: request id, method, route pattern (never
 * the raw URL, whose query string could carry something secret), status, latency and principal.
 * Written on the base logger: a child logger per request (what pino-http does) costs more than
 * the rest of a cheap request.
 */
export function requestLog(logger: Logger, metrics: Pick<Metrics, 'httpRequest'>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'info';
      const route = routeLabel(req, res);
      metrics.httpRequest(route, req.method, res.statusCode, ms / 1000);
      logger[level](
        {
          requestId: req.context.requestId,
          clientRequestId: req.context.clientRequestId,
          method: req.method,
          route,
          status: res.statusCode,
          ms: Math.round(ms * 100) / 100,
          principal: req.user?.subject ?? (req.device ? `device:${req.device.deviceId}` : undefined),
        },
        'request',
      );
    });
    next();
  };
}
