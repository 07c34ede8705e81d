import { Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { duration, emptyBody, groupName, pageQuery, parse, shortText, subjectName, uuid } from '../http/validation';
import { roles } from '../identity/principal';
import { PolicyService } from './policy-service';
import { ticketPatternProblem } from './ticket-pattern';

export const policyBody = z
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
export const policyParams = z.object({ id: uuid }).strict();
export const listQuery = z.object(pageQuery).strict();

export function policyRoutes(policies: PolicyService): Router {
  const r = Router({ caseSensitive: true, strict: true });
  r.post(
    '/',
    handle(async (req) => ({ status: 201, body: await policies.createPolicy(userOf(req), parse(policyBody, req.body, 'body'), req.context) })),
  );
  r.get(
    '/',
    handle(async (req) => ({ status: 200, body: await policies.listPolicies(userOf(req), parse(listQuery, req.query, 'query')) })),
  );
  r.get(
    '/:id',
    handle(async (req) => ({ status: 200, body: await policies.getPolicy(userOf(req), parse(policyParams, req.params, 'params').id) })),
  );
  r.put(
    '/:id',
    handle(async (req) => ({
      status: 200,
      body: await policies.replacePolicy(userOf(req), parse(policyParams, req.params, 'params').id, parse(policyBody, req.body, 'body'), req.context),
    })),
  );
  r.delete(
    '/:id',
    handle(async (req) => {
      const { id } = parse(policyParams, req.params, 'params');
      parse(emptyBody, req.body, 'body');
      return { status: 200, body: await policies.deletePolicy(userOf(req), id, req.context) };
    }),
  );
  return r;
}
