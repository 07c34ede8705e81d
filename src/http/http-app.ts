import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet, { HelmetOptions } from 'helmet';
import { Logger } from 'pino';
import { AgentRouteService, agentRoutes } from '../credentials/agent-routes';
import { AuditRouteService, auditRoutes } from '../audit/audit-routes';
import { DeviceRouteService, deviceRoutes } from '../devices/device-routes';
import { ElevationRouteService, elevationRoutes } from '../elevation/elevation-routes';
import { EscalationRouteService, escalationRoutes } from '../escalations/escalation-routes';
import { GrantRouteService, grantRoutes } from '../grants/grant-routes';
import { PolicyRouteService, policyRoutes } from '../policies/policy-routes';
import { portalPages } from '../portal/portal-pages';
import { PortalRouteService, portalRoutes } from '../portal/portal-routes';
import type { SignInService } from '../portal/sign-in-service';
import { DomainError } from '../problems/problem';
import { authenticateDevice, authenticateUser, requireSameOrigin } from './auth';
import { createErrorHandler } from './error-handler';
import { requestContext } from './handle';
import { requestLog } from './request-log';
import { buildOpenApi } from './openapi';
import { operatorRoutes } from './operator-routes';
import { RateLimitSettings, createRateLimits } from './rate-limits';
import { RouteGroup, callerKind } from './route';
import { handlerOf, routerOf } from './route-router';
import type { AuditLog } from '../audit/audit-log';
import type { DeviceIdentity } from '../identity/device-identity';
import type { IdentityProvider } from '../identity/identity-provider';
import type { Metrics } from '../metrics/metrics';
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
  /** portal.publicOrigin: where the portal's state-changing requests must come from (else the request's own origin). */
  publicOrigin?: string;
}

/**
 * What HTTP is handed by the composition root: for each domain's routes what they call (a Pick of
 * its service, declared by its *-routes.ts), and for the rest the audit append of refusals, the
 * credential checks and the operator endpoints' probes.
 */
export interface HttpDependencies {
  logger: Logger;
  metrics: Pick<Metrics, 'httpRequest' | 'registry'>;
  /** Refusals (a failed credential, a rate limit, an authorisation failure) are audited here. */
  audit: Pick<AuditLog, 'append'>;
  transactor: Transactor;
  storeHealth: Pick<StoreHealth, 'unavailable'>;
  identity: Pick<IdentityProvider, 'verify' | 'check'>;
  deviceIdentity: Pick<DeviceIdentity, 'verify'>;
  rotations: AgentRouteService;
  devices: DeviceRouteService;
  policies: PolicyRouteService;
  grants: GrantRouteService;
  elevation: ElevationRouteService;
  escalations: EscalationRouteService;
  auditService: AuditRouteService;
  /** The portal's sign-in routes, and its sessions as a credential of every /v1 route. */
  signIn: PortalRouteService & Pick<SignInService, 'resolve' | 'csrfMatches'>;
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
  // Every route the daemon serves, each declared once, in its domain's *-routes.ts.
  const api: RouteGroup[] = [
    agentRoutes(s.rotations),
    deviceRoutes(s.devices),
    policyRoutes(s.policies),
    grantRoutes(s.grants),
    elevationRoutes(s.elevation),
    escalationRoutes(s.escalations),
    auditRoutes(s.auditService),
  ];
  // Built once: the document only changes with the code.
  let openapi: string | undefined;
  const portal = portalRoutes(s.signIn);
  const operator = operatorRoutes(s, () => (openapi ??= JSON.stringify(buildOpenApi([operator, portal, ...api]))));
  // Every route mounted, by method and full path: the OpenAPI coverage test compares it with the document.
  const routes: string[] = [];
  for (const r of operator.routes) {
    app[r.method](r.path, handlerOf(r));
    routes.push(`${r.method.toUpperCase()} ${r.path}`);
  }

  // After the operator endpoints: a busy address (a NAT, a proxy without trustProxy) must never make
  // a load balancer's /readyz or the scraper's /metrics answer 429 and take the daemon out of service.
  app.use(limits.perAddress);
  app.use('/v1', refuseOtherMethods);
  // Sign-in answers, refusals included, are about one browser's session: no browser or proxy keeps any.
  app.use('/auth', refuseOtherMethods, (_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // Nothing under /v1 is served before the start-up checks (a rolled-back audit log, the schema) have run.
  app.use('/v1', (_req, _res, next) =>
    next(
      s.serving && !s.serving() ? new DomainError('unavailable', 'The daemon is still starting: its store just came back and its start-up checks have not run yet.') : undefined,
    ),
  );
  app.use(requireJsonBody);
  app.use(express.json({ limit: bodyLimit, strict: true, type: 'application/json' }));

  // Refused credentials are audited (auth.failed) before the 401 leaves, and counted per address
  // after the check: past the limit, failed ones answer 429, valid ones still pass.
  const authAudit = { audit: s.audit, transactor: s.transactor, logger: s.logger, failures: limits.authFailures };
  // A person is a bearer token, or else the portal's session cookie (with its Origin and CSRF checks).
  const sessionAuth = { sessions: s.signIn, publicOrigin: s.httpSettings.publicOrigin };
  const authenticate: Record<'user' | 'agent', RequestHandler> = {
    user: authenticateUser(s.identity, authAudit, sessionAuth),
    agent: authenticateDevice(s.deviceIdentity, authAudit),
  };
  // The portal's sign-in, one route at a time: signing out takes the session cookie alone; the
  // public ones that change state (the development sign-in) must come from the portal's origin.
  for (const r of portal.routes) {
    const guard =
      callerKind(r.roles) === 'user'
        ? [authenticateUser(s.identity, authAudit, sessionAuth, { bearer: false })]
        : r.method === 'get'
          ? []
          : [requireSameOrigin(s.httpSettings.publicOrigin)];
    app[r.method](r.path, ...guard, handlerOf(r));
    routes.push(`${r.method.toUpperCase()} ${r.path}`);
  }
  for (const group of api) {
    const kind = callerKind(group.routes[0]?.roles ?? 'public');
    if (kind === 'public') throw new Error(`The routes under ${group.prefix} are public: declare them with the operator endpoints.`);
    const notePrefix: RequestHandler = (_req, res, next) => {
      // The prefix as declared, for the route label: req.baseUrl is the caller's spelling of it.
      res.locals.routePrefix = group.prefix;
      next();
    };
    // Authentication before the router matches: any path under the prefix needs a credential first.
    app.use(group.prefix, notePrefix, authenticate[kind], routerOf(group, limits.perRoute));
    for (const r of group.routes) routes.push(`${r.method.toUpperCase()} ${r.path}`);
  }
  app.locals.routes = routes;
  app.use(portalPages());

  app.use((req, _res, next) => next(new DomainError('not-found', `No route ${req.method} ${req.path}.`)));
  app.use(createErrorHandler({ audit: s.audit, transactor: s.transactor, logger: s.logger, storeHealth: s.storeHealth }));
  return app;
}
