import { RequestHandler, Router } from 'express';
import { cookiesOf } from './cookies';
import { deviceOf, handle, userOf } from './handle';
import type { LimitClass } from './rate-limits';
import { Route, RouteGroup, callerKind } from './route';
import { parse } from './validation';

/** The express handler of a declaration: the caller, then params, body and query parsed by its schemas, then its one call. */
export function handlerOf(r: Route): RequestHandler {
  const kind = callerKind(r.roles);
  return handle(
    async (req) => {
      const caller = kind === 'user' ? userOf(req) : kind === 'agent' ? deviceOf(req) : undefined;
      const params = r.params ? parse(r.params, req.params, 'params') : undefined;
      const body = r.body ? parse(r.body, req.body, 'body') : undefined;
      const query = r.query ? parse(r.query, req.query, 'query') : undefined;
      return r.handle({ caller, params, query, body, context: req.context, cookies: cookiesOf(req) } as Parameters<Route['handle']>[0]);
    },
    { etag: r.etag },
  );
}

/** The path a declaration has inside its group's router: the prefix's own path is the router's '/'. */
function pathInGroup(group: RouteGroup, r: Route): string {
  return r.path.slice(group.prefix.length) || '/';
}

/**
 * A group's router: case-sensitive and strict (`/PASSWORD` or `/password/` would otherwise reach a
 * handler past whatever is attached to its declared path), each route with the limit its
 * declaration names in front of its handler.
 */
export function routerOf(group: RouteGroup, limits: Record<LimitClass, RequestHandler>): Router {
  // A router's own options decide how it matches, whatever the app's are.
  const router = Router({ caseSensitive: true, strict: true });
  for (const r of group.routes) {
    // The limit is part of the route, not a pattern over the URL: whatever spelling reaches this handler passed it.
    router[r.method](pathInGroup(group, r), ...(r.limit ? [limits[r.limit]] : []), handlerOf(r));
  }
  return router;
}
