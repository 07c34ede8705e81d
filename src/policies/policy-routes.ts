import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { duration, emptyBody, groupName, page, pageQuery, shortText, subjectName, uuid } from '../http/validation';
import { roles } from '../identity/principal';
import { PolicyService } from './policy-service';
import { ticketPatternProblem } from './ticket-pattern';

const policyBody = z
  .object({
    name: shortText(100),
    principals: z
      .object({ groups: z.array(groupName).max(100).optional(), roles: z.array(z.enum(roles)).max(4).optional(), subjects: z.array(subjectName).max(100).optional() })
      .strict()
      .refine((p) => (p.groups?.length ?? 0) + (p.roles?.length ?? 0) + (p.subjects?.length ?? 0) > 0, 'designate at least one group, role or subject'),
    deviceGroups: z.array(groupName).min(1, 'at least one device group').max(100),
    maxDuration: duration,
    requireTicket: z.boolean().default(false),
    // Refused here, with the reason, when RE2 cannot compile it: a stored pattern must be one that matches in linear time.
    ticketPattern: z
      .string()
      .min(1)
      .superRefine((v, ctx) => {
        const problem = ticketPatternProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    requireApproval: z.boolean().default(false),
    enabled: z.boolean().default(true),
  })
  .strict();
const policyParams = z.object({ id: uuid }).strict();
export const listQuery = z.object(pageQuery).strict();

const policy = policyBody.extend({ id: z.string().uuid(), createdAt: z.string(), updatedAt: z.string() });
const grantsEnded = z.number().describe('Open grants the change ended: those no enabled policy allows any more.');

/** What the policy routes call. */
export type PolicyRouteService = Pick<PolicyService, 'createPolicy' | 'listPolicies' | 'getPolicy' | 'replacePolicy' | 'deletePolicy'>;

export function policyRoutes(policies: PolicyRouteService): RouteGroup {
  return routeGroup('/v1/policies', [
    route({
      method: 'post',
      path: '/v1/policies',
      summary: 'Designate who may elevate where (admin)',
      roles: ['admin'],
      body: policyBody,
      responses: { 201: { description: 'Created', json: policy } },
      problems: ['conflict'],
      handle: async ({ caller, body, context }) => ({ status: 201, body: await policies.createPolicy(caller, body, context) }),
    }),
    route({
      method: 'get',
      path: '/v1/policies',
      summary: 'List policies',
      roles: ['admin', 'auditor'],
      query: listQuery,
      responses: { 200: { description: 'A page of policies', json: page(policy) } },
      handle: async ({ caller, query }) => ({ status: 200, body: await policies.listPolicies(caller, query) }),
    }),
    route({
      method: 'get',
      path: '/v1/policies/:id',
      summary: 'A policy',
      roles: ['admin', 'auditor'],
      params: policyParams,
      responses: { 200: { description: 'The policy', json: policy } },
      problems: ['not-found'],
      handle: async ({ caller, params }) => ({ status: 200, body: await policies.getPolicy(caller, params.id) }),
    }),
    route({
      method: 'put',
      path: '/v1/policies/:id',
      summary: 'Replace a policy (admin)',
      roles: ['admin'],
      params: policyParams,
      body: policyBody,
      responses: { 200: { description: 'Replaced', json: policy.extend({ grantsEnded }) } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, body, context }) => ({ status: 200, body: await policies.replacePolicy(caller, params.id, body, context) }),
    }),
    route({
      method: 'delete',
      path: '/v1/policies/:id',
      summary: 'Delete a policy (admin)',
      roles: ['admin'],
      params: policyParams,
      body: emptyBody,
      responses: { 200: { description: 'Deleted', json: z.object({ id: z.string().uuid(), grantsEnded }) } },
      problems: ['not-found'],
      handle: async ({ caller, params, context }) => ({ status: 200, body: await policies.deletePolicy(caller, params.id, context) }),
    }),
  ]);
}
