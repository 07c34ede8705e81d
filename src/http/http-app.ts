import express, { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import helmet, { HelmetOptions } from 'helmet';
import { Logger } from 'pino';
import { agentRoutes } from '../credentials/agent-routes';
import { auditRoutes } from '../audit/audit-routes';
import { deviceRoutes } from '../devices/device-routes';
import { escalationRoutes } from '../escalations/escalation-routes';
import { grantRoutes } from '../grants/grant-routes';
import { policyRoutes } from '../policies/policy-routes';
import { portalPages } from '../portal/portal-pages';
import { DomainError } from '../problems/problem';
import { authenticateDevice, authenticateUser } from './auth';
import { createErrorHandler } from './error-handler';
import { requestContext } from './handle';
import { requestLog } from './request-log';
import { buildOpenApi } from './openapi';
import { RateLimitSettings, createRateLimits } from './rate-limits';
import type { AuditCheckpoints } from '../audit/audit-checkpoints';
import type { AuditLog } from '../audit/audit-log';
import type { CheckpointSigner } from '../audit/checkpoint-signer';
import type { RotationService } from '../credentials/rotation-service';
import type { DeviceService } from '../devices/device-service';
import type { EscalationService } from '../escalations/escalation-service';
import type { GrantService } from '../grants/grant-service';
import type { DeviceIdentity } from '../identity/device-identity';
import type { IdentityProvider } from '../identity/identity-provider';
import type { Metrics } from '../metrics/metrics';
import type { PolicyService } from '../policies/policy-service';
import type { StoreHealth } from '../store/store-health';
import type { Transactor } from '../store/transactor';

const bodyLimit = '64kb';

/**
 * Helmet set up for a JSON API rather than for HTML pages (the OWASP REST Security Cheat Sheet's
 * set): a policy that lets a response load nothing and be framed by nobody, no sniffing, no
 * referrer, HSTS, and reads from other origins refused. Helmet's page defaults (a CSP allowing the
 * page's own scripts and styles, and headers for DNS prefetch, IE downloads, Flash and the old XSS
 * auditor) do nothing for JSON and were two thirds of every response's headers.
 */
const apiSecurityHeaders = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true },
  xContentTypeOptions: true,
  crossOriginOpenerPolicy: false,
  crossOriginEmbedderPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} as const satisfies HelmetOptions;

/** A body must be JSON when one is sent; an empty body is fine on routes where it is optional. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (['POST', 'PUT', 'PATCH'].includes(req.method) && hasBody && !req.is('application/json')) {
    next(new DomainError('unsupported-media-type', 'Send the request body as application/json.'));
    return;
  }
  next();
}

// The methods the API's routes are declared with. Express would run a GET route for HEAD (a reveal:
// audited and marked used, with a body nobody receives) and answer OPTIONS itself, in text/html.
const apiMethods: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function refuseOtherMethods(req: Request, _res: Response, next: NextFunction): void {
  next(apiMethods.has(req.method) ? undefined : new DomainError('not-found', `No route ${req.method} ${req.baseUrl}${req.path}.`));
}

/** Express, thin: parse, authenticate, call one service method, map errors to problem documents. */
export interface HttpSettings {
  trustProxy: boolean | number | string;
  rateLimits: RateLimitSettings;
}

/** What HTTP is handed by the composition root: the services its routes call, and the operator endpoints' probes. */
export interface HttpDependencies {
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  transactor: Transactor;
  storeHealth: Pick<StoreHealth, 'unavailable'>;
  identity: IdentityProvider;
  deviceIdentity: Pick<DeviceIdentity, 'verify'>;
  rotations: Pick<RotationService, 'fetchPending' | 'acknowledge'>;
  devices: DeviceService;
  policies: PolicyService;
  grants: GrantService;
  escalations: EscalationService;
  checkpointSigner: CheckpointSigner;
  checkpoints: Pick<AuditCheckpoints, 'checkpointNow' | 'latest'>;
  ready: () => Promise<void>;
  /** False while the start-up checks have not run (a daemon started while its store was down): /v1 answers 503. */
  serving?: () => boolean;
  httpSettings: HttpSettings;
}

export function createHttpApp(s: HttpDependencies): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // One spelling per route: `/PASSWORD` or `/password/` would otherwise reach a handler past
  // whatever is attached to its declared path, and make a metric series of its own.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // Behind a load balancer the client address comes from X-Forwarded-For (http.trustProxy); else the socket.
  app.set('trust proxy', s.httpSettings.trustProxy);
  app.use(requestContext);
  app.use(requestLog(s.logger, s.metrics));
  app.use(helmet(apiSecurityHeaders));
  const limits = createRateLimits({ settings: s.httpSettings.rateLimits, audit: s.audit, transactor: s.transactor, logger: s.logger });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Built once: the document only changes with the code.
  let openapi: string | undefined;
  app.get('/openapi.json', (_req, res) => {
    openapi ??= JSON.stringify(buildOpenApi());
    res.type('application/json').send(openapi);
  });
  app.get('/metrics', (_req, res, next) => {
    s.metrics.registry.metrics().then((text) => res.set('content-type', s.metrics.registry.contentType).send(text), next);
  });
  app.get('/readyz', (req, res, next) => {
    s.ready().then(
      () =>
        // The identity provider last: the daemon starts without it, but cannot verify tokens until it has its keys.
        Promise.resolve(s.identity.check?.()).then(
          () => res.json({ status: 'ready' }),
          (e: unknown) => {
            s.logger.warn({ err: e }, 'not ready: identity provider');
            next(new DomainError('unavailable', "The identity provider's signing keys cannot be had, so tokens cannot be verified."));
          },
        ),
      (e: unknown) => {
        // A store outage is logged once per cause (storeHealth), not at every poll of the load balancer.
        if (!s.storeHealth.unavailable(e)) s.logger.warn({ err: e }, 'not ready');
        next(new DomainError('unavailable', 'The store or the vault is not usable.'));
      },
    );
  });

  // After the operator endpoints: a busy address (a NAT, a proxy without trustProxy) must never make
  // a load balancer's /readyz or the scraper's /metrics answer 429 and take the daemon out of service.
  app.use(limits.perAddress);
  app.use('/v1', refuseOtherMethods);
  // Nothing under /v1 is served before the start-up checks (a rolled-back audit log, the schema) have run.
  app.use('/v1', (_req, _res, next) =>
    next(
      s.serving && !s.serving() ? new DomainError('unavailable', 'The daemon is still starting: its store just came back and its start-up checks have not run yet.') : undefined,
    ),
  );
  app.use(requireJsonBody);
  app.use(express.json({ limit: bodyLimit, strict: true, type: 'application/json' }));

  const routes: string[] = ['GET /healthz', 'GET /openapi.json', 'GET /metrics', 'GET /readyz'];
  /** Mounts a router and notes its routes (method and full path), for the OpenAPI coverage test. */
  const mount = (prefix: string, ...handlers: [...RequestHandler[], Router]) => {
    const router = handlers[handlers.length - 1] as Router & { caseSensitive?: boolean; strict?: boolean };
    // A router's own options decide how it matches, whatever the app's are.
    if (router.caseSensitive !== true || router.strict !== true) throw new Error(`The router on ${prefix} must be Router({ caseSensitive: true, strict: true }).`);
    const notePrefix: RequestHandler = (_req, res, next) => {
      // The prefix as declared, for the route label: req.baseUrl is the caller's spelling of it.
      res.locals.routePrefix = prefix;
      next();
    };
    app.use(prefix, notePrefix, ...handlers);
    for (const layer of router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>) {
      if (!layer.route) continue;
      for (const method of Object.keys(layer.route.methods)) routes.push(`${method.toUpperCase()} ${prefix}${layer.route.path === '/' ? '' : layer.route.path}`);
    }
  };
  // Refused credentials are audited (auth.failed) before the 401 leaves, and counted per address
  // after the check: past the limit, failed ones answer 429, valid ones still pass.
  const authAudit = { audit: s.audit, transactor: s.transactor, logger: s.logger, failures: limits.authFailures };
  mount('/v1/agent', authenticateDevice(s.deviceIdentity, authAudit), agentRoutes({ rotations: s.rotations }));
  const user = authenticateUser(s.identity, authAudit);
  mount('/v1/devices', user, deviceRoutes(s.devices));
  mount('/v1/policies', user, policyRoutes(s.policies));
  mount('/v1/grants', user, grantRoutes(s.grants, { grantRequests: limits.grantRequests, reveals: limits.reveals }));
  mount('/v1/escalations', user, escalationRoutes(s.escalations));
  mount('/v1/audit', user, auditRoutes({ audit: s.audit, transactor: s.transactor, signer: s.checkpointSigner, checkpoints: s.checkpoints }));
  app.locals.routes = routes;
  app.use(portalPages());

  app.use((req, _res, next) => next(new DomainError('not-found', `No route ${req.method} ${req.path}.`)));
  app.use(createErrorHandler({ audit: s.audit, transactor: s.transactor, logger: s.logger, storeHealth: s.storeHealth }));
  return app;
}
