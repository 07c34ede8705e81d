import express, { NextFunction, Request, Response } from 'express';
import { Logger } from 'pino';
import { agentRoutes } from '../credentials/agent-routes';
import { auditRoutes } from '../audit/audit-routes';
import { deviceRoutes } from '../devices/device-routes';
import { escalationRoutes } from '../escalations/escalation-routes';
import { grantRoutes } from '../grants/grant-routes';
import { policyRoutes } from '../policies/policy-routes';
import { DomainError } from '../problems/problem';
import { authenticateDevice, authenticateUser } from './auth';
import { createErrorHandler } from './error-handler';
import { requestContext } from './handle';
import { requestLog } from './request-log';
import type { Services } from '../app';

const bodyLimit = '64kb';

/** A body must be JSON when one is sent; an empty body is fine on routes where it is optional. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (['POST', 'PUT', 'PATCH'].includes(req.method) && hasBody && !req.is('application/json')) {
    next(new DomainError('unsupported-media-type', 'Send the request body as application/json.'));
    return;
  }
  next();
}

/** Express, thin: parse, authenticate, call one service method, map errors to problem documents. */
export function createHttpApp(s: Services & { logger: Logger; ready: () => Promise<void> }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext);
  app.use(requestLog(s.logger, s.metrics));
  app.use(requireJsonBody);
  app.use(express.json({ limit: bodyLimit, strict: true, type: 'application/json' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', (_req, res, next) => {
    s.metrics.registry.metrics().then((text) => res.set('content-type', s.metrics.registry.contentType).send(text), next);
  });
  app.get('/readyz', (req, res, next) => {
    s.ready().then(
      () => res.json({ status: 'ready' }),
      (e: unknown) => {
        s.logger.warn({ err: e }, 'not ready');
        next(new DomainError('unavailable', 'The store or the vault is not usable.'));
      },
    );
  });

  app.use('/v1/agent', authenticateDevice(s.deviceIdentity), agentRoutes({ rotations: s.rotations }));
  const user = authenticateUser(s.identity);
  app.use('/v1/devices', user, deviceRoutes(s.devices));
  app.use('/v1/policies', user, policyRoutes(s.policies));
  app.use('/v1/grants', user, grantRoutes(s.grants));
  app.use('/v1/escalations', user, escalationRoutes(s.escalations));
  app.use('/v1/audit', user, auditRoutes({ audit: s.audit, transactor: s.transactor, signer: s.checkpointSigner, checkpoints: s.checkpoints }));

  app.use((req, _res, next) => next(new DomainError('not-found', `No route ${req.method} ${req.path}.`)));
  app.use(createErrorHandler({ audit: s.audit, transactor: s.transactor, logger: s.logger }));
  return app;
}
