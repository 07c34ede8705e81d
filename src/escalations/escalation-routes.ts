import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { deviceId, page, pageQuery, shortText, uuid } from '../http/validation';
import { allowedNextStatus, escalationStatuses } from './escalation';
import { EscalationService } from './escalation-service';

const fileBody = z
  .object({
    // Any severity is read, so that one other than C is refused with a pointer (422), not a schema error.
    severity: shortText(16).describe('C; any other severity answers 422 severity-not-accepted'),
    category: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'a category such as hardware or service-policy'),
    summary: shortText(200),
    details: shortText(4000).optional(),
    deviceId: deviceId.optional(),
    ticket: shortText(100).optional(),
  })
  .strict();
const statusBody = z.object({ status: z.enum(escalationStatuses), note: shortText(1000).optional() }).strict();
export const params = z.object({ id: uuid }).strict();
export const listQuery = z.object({ status: z.enum(escalationStatuses).optional(), ...pageQuery }).strict();

// The status machine's table names the statuses.
const escalation = z
  .object({
    id: z.string().uuid(),
    status: z.enum(Object.keys(allowedNextStatus) as [string, ...string[]]),
    severity: z.literal('C'),
    category: z.string(),
    routedTo: z.string(),
    routedToName: z.string(),
  })
  .passthrough();

const destination = { routedTo: z.string(), routedToName: z.string() };
const routing = z.object({
  mayFile: z.boolean(),
  reason: z.string().optional().describe('Why the caller may not file, when they may not'),
  severities: z.array(z.literal('C')),
  categories: z.array(z.object({ category: z.string(), ...destination })),
  otherwise: z.object(destination).describe('Where a category not listed goes'),
});

/** What the escalation routes call. */
export type EscalationRouteService = Pick<EscalationService, 'fileEscalation' | 'routing' | 'listEscalations' | 'getEscalation' | 'setStatus'>;

export function escalationRoutes(escalations: EscalationRouteService): RouteGroup {
  return routeGroup('/v1/escalations', [
    route({
      method: 'post',
      path: '/v1/escalations',
      summary: 'File a severity C escalation, routed by category',
      // Who is designated to file is configuration (escalations.*): the service decides.
      roles: 'user',
      body: fileBody,
      responses: { 201: { description: 'Filed and routed', json: escalation } },
      problems: ['severity-not-accepted'],
      handle: async ({ caller, body, context }) => ({ status: 201, body: await escalations.fileEscalation(caller, body, context) }),
    }),
    route({
      method: 'get',
      path: '/v1/escalations',
      summary: 'Your escalations (all, for an admin)',
      roles: 'user',
      query: listQuery,
      responses: { 200: { description: 'A page of escalations', json: page(escalation) } },
      handle: async ({ caller, query }) => ({ status: 200, body: await escalations.listEscalations(caller, query) }),
    }),
    // Before /:id, which would read "routing" as an id.
    route({
      method: 'get',
      path: '/v1/escalations/routing',
      summary: 'Where each category goes, and whether you may file',
      roles: 'user',
      responses: { 200: { description: 'The routing table', json: routing } },
      handle: async ({ caller }) => ({ status: 200, body: escalations.routing(caller) }),
    }),
    route({
      method: 'get',
      path: '/v1/escalations/:id',
      summary: 'An escalation',
      roles: 'user',
      params,
      responses: { 200: { description: 'The escalation', json: escalation } },
      problems: ['not-found'],
      handle: async ({ caller, params }) => ({ status: 200, body: await escalations.getEscalation(caller, params.id) }),
    }),
    route({
      method: 'patch',
      path: '/v1/escalations/:id',
      summary: 'Move an escalation along (admin)',
      roles: ['admin'],
      params,
      body: statusBody,
      responses: { 200: { description: 'Updated', json: escalation } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, body, context }) => ({ status: 200, body: await escalations.setStatus(caller, params.id, body.status, body.note, context) }),
    }),
  ]);
}
