import { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';

/**
 * One log line per request when its response finishes: request id, method, route pattern (never
 * the raw URL, whose query string could carry something secret), status, latency and principal.
 * Written on the base logger: a child logger per request (what pino-http does) costs more than
 * the rest of a cheap request.
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'info';
      logger[level](
        {
          requestId: req.context.requestId,
          method: req.method,
          route: req.route ? `${req.baseUrl}${String(req.route.path)}` : req.baseUrl || '(unmatched)',
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
