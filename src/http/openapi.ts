import { OpenAPIRegistry, OpenApiGeneratorV31, RouteConfig, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ProblemCode, problems } from '../problems/problem';
import { CallerKind, Route, RouteGroup, callerKind } from './route';

// The generator reads metadata through a method it adds to zod's prototype (schemas already made included).
extendZodWithOpenApi(z);

const problem = z.object({
  type: z.string().url(),
  title: z.string(),
  status: z.number().int(),
  code: z.enum(Object.keys(problems) as [ProblemCode, ...ProblemCode[]]),
  detail: z.string(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/**
 * What any route called with a credential can answer, whatever it does: a malformed URL, query or
 * JSON body (400), a credential refused (401, or 403 from the identity provider), too many
 * requests from the address or too many failed credentials (429), a body over the limit (413) or
 * not JSON (415), the store, the vault or the audit log unavailable (503, fail closed), and a fault
 * of ours (500).
 */
const everyCalledRoute: readonly ProblemCode[] = [
  'invalid-request',
  'unauthenticated',
  'forbidden',
  'payload-too-large',
  'unsupported-media-type',
  'rate-limited',
  'unavailable',
  'internal',
];

/** Every problem a route can answer: its own, and those of every route its kind of caller reaches. */
export function problemsOf(r: Route): ProblemCode[] {
  const common = callerKind(r.roles) === 'public' ? [] : everyCalledRoute;
  return [...new Set([...common, ...(r.problems ?? [])])];
}

/** One response per status; several codes can share one (403 forbidden and policy-denied): the schema lists each. */
function problemResponses(codes: readonly ProblemCode[]): RouteConfig['responses'] {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) byStatus.set(problems[code].status, [...(byStatus.get(problems[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, shared]) => [
      String(status),
      {
        description: shared.map((c) => `${problems[c].title} (${c})`).join('; '),
        content: { 'application/problem+json': { schema: problem.extend({ code: z.enum(shared as [ProblemCode, ...ProblemCode[]]) }) } },
      },
    ]),
  );
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');

function descriptionOf(r: Route): string | undefined {
  const who = typeof r.roles === 'string' ? undefined : `Roles: ${r.roles.join(', ')}.`;
  const limit = r.limit ? `Limited per principal (http.rateLimits.${r.limit}PerPrincipal).` : undefined;
  return [who, limit].filter(Boolean).join(' ') || undefined;
}

/**
 * The OpenAPI 3.1 document of the API, built from the route declarations the router is built from
 * (their zod schemas, roles, limits and problems), so the contract and the code cannot drift.
 */
export function buildOpenApi(groups: readonly RouteGroup[]): object {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A token from the identity provider (local mode: jitbroker token).',
  });
  const deviceBearer = registry.registerComponent('securitySchemes', 'deviceKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An ES256 JWT the device agent signs with its enrolled key: iss = sub = the device id, aud = agent.audience, exp − iat ≤ 300 s, a unique jti.',
  });
  const security: Record<CallerKind, RouteConfig['security']> = { user: [{ [bearer.name]: [] }], agent: [{ [deviceBearer.name]: [] }], public: undefined };

  for (const r of groups.flatMap((g) => g.routes)) {
    const ok = Object.fromEntries(
      Object.entries(r.responses).map(([status, doc]) => [
        status,
        {
          description: doc.description,
          ...(doc.json || doc.content
            ? {
                content: doc.json
                  ? { 'application/json': { schema: doc.json } }
                  : Object.fromEntries(Object.entries(doc.content ?? {}).map(([type, schema]) => [type, { schema }])),
              }
            : {}),
        },
      ]),
    );
    if (r.etag) ok['304'] = { description: 'Not modified: If-None-Match named the ETag this answer would carry (no body)' };
    registry.registerPath({
      method: r.method,
      path: openApiPath(r.path),
      summary: r.summary,
      description: descriptionOf(r),
      request: {
        ...(r.params ? { params: r.params as z.AnyZodObject } : {}),
        ...(r.query ? { query: r.query as z.AnyZodObject } : {}),
        ...(r.etag ? { headers: z.object({ 'if-none-match': z.string().optional().describe('The ETag of the answer you hold: 304 when it is still the same') }) } : {}),
        // A body that may be left out (the routes that take none but refuse fields) is not required.
        ...(r.body ? { body: { content: { 'application/json': { schema: r.body } }, required: !r.body.safeParse({}).success } } : {}),
      },
      security: security[callerKind(r.roles)],
      responses: { ...ok, ...problemResponses(problemsOf(r)) },
    });
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'jitbroker', version: '1', description: 'Just-in-time elevation credential broker. Errors are RFC 9457 problem documents with a stable code.' },
    servers: [{ url: '/' }],
  });
}
