import { z } from 'zod';
import type { RequestContext } from '../audit/audit-event';
import type { DevicePrincipal, Role, UserPrincipal } from '../identity/principal';
import type { ProblemCode } from '../problems/problem';
import type { Reply } from './handle';
import type { LimitClass } from './rate-limits';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call a route: the roles whose holders the service lets through (documented; the service
 * decides, it is the one place the rule lives), any signed-in person (`user`: the service narrows
 * further, e.g. by designation or ownership), the device agent with its enrolled key (`agent`), or
 * anyone (`public`: the operator endpoints).
 */
export type Access = readonly Role[] | 'user' | 'agent' | 'public';
export type CallerKind = 'user' | 'agent' | 'public';

type CallerOf<A extends Access> = A extends 'agent' ? DevicePrincipal : A extends 'public' ? undefined : UserPrincipal;
type Parsed<S> = S extends z.ZodTypeAny ? z.infer<S> : undefined;

/** A successful answer, as documented: JSON of a schema, or other content types (an export, the metrics text). */
export interface ResponseDoc {
  description: string;
  json?: z.ZodTypeAny;
  content?: Record<string, z.ZodTypeAny>;
}

export interface RouteInput<A extends Access, P, Q, B> {
  caller: CallerOf<A>;
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  context: RequestContext;
  /** The request's cookies by name (the portal's routes read their session and sign-in cookies). */
  cookies: Readonly<Record<string, string>>;
}

/**
 * One route, declared once: the router (authentication, limit, parsing, handler), the OpenAPI
 * document and the rate-limit attachment are all derived from it.
 */
export interface RouteDeclaration<A extends Access = Access, P = unknown, Q = unknown, B = unknown> {
  method: Method;
  /** The full path in express form (`/v1/grants/:id/password`); OpenAPI spells it `{id}`. */
  path: string;
  summary: string;
  roles: A;
  /** The per-principal limit attached to this route (not to a URL pattern). */
  limit?: LimitClass;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, ResponseDoc>;
  /**
   * The problems the route's service call can answer, besides those every route of its kind can
   * (authentication, validation, limits, outages: see problemsOf in openapi.ts).
   */
  problems?: readonly ProblemCode[];
  /**
   * Pages that poll (the portal's grant lists and timelines): a 200 answers a weak ETag, a hash of
   * its body, and a matching If-None-Match gets 304 with no body; both are Cache-Control: no-store.
   */
  etag?: boolean;
  /** Parses nothing, decides nothing: calls one service method and says how to answer. */
  handle: (input: RouteInput<A, P, Q, B>) => Promise<Reply>;
}

/** The declaration as the router and the OpenAPI builder read it, whatever its schemas. */
export type Route = RouteDeclaration<Access, z.ZodTypeAny | undefined, z.ZodTypeAny | undefined, z.ZodTypeAny | undefined>;

/** Declares a route; the schemas given type the handler's input. */
export function route<
  const A extends Access,
  P extends z.ZodTypeAny | undefined = undefined,
  Q extends z.ZodTypeAny | undefined = undefined,
  B extends z.ZodTypeAny | undefined = undefined,
>(declaration: RouteDeclaration<A, P, Q, B>): Route {
  return declaration as unknown as Route;
}

export function callerKind(access: Access): CallerKind {
  return access === 'agent' || access === 'public' ? access : 'user';
}

/** A domain's routes and the prefix they are mounted under (one router, one authentication). */
export interface RouteGroup {
  prefix: string;
  routes: readonly Route[];
}

export function routeGroup(prefix: string, routes: readonly Route[]): RouteGroup {
  const kinds = new Set(routes.map((r) => callerKind(r.roles)));
  // The group's authentication runs before its router matches (an unknown path under the prefix is 401, not 404): one kind per group.
  if (kinds.size !== 1) throw new Error(`The routes under ${prefix} must all be called by one kind of caller.`);
  for (const r of routes) if (!(r.path === prefix || r.path.startsWith(`${prefix}/`))) throw new Error(`${r.method.toUpperCase()} ${r.path} is not under ${prefix}.`);
  return { prefix, routes };
}
