import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { deviceId, duration, page, pageQuery, shortText, subjectName, uuid } from '../http/validation';
import { maxTicketLength } from '../policies/ticket-pattern';
import { allowedNext, grantStates } from './grant';
import { GrantService } from './grant-service';
import { endings, timelineKinds } from './grant-timeline';

const requestGrantBody = z.object({ deviceId, reason: shortText(500), ticket: shortText(maxTicketLength).optional(), duration }).strict();
const approveBody = z.object({ comment: shortText(500).optional() }).strict();
const denyBody = z.object({ reason: shortText(500) }).strict();
const revokeBody = z.object({ reason: shortText(500).optional() }).strict();
const grantParams = z.object({ id: uuid }).strict();
export const listQuery = z
  .object({
    state: z.enum(grantStates).optional(),
    deviceId: deviceId.optional(),
    requester: subjectName.optional(),
    decidable: z.enum(['true', 'false']).optional().describe("true: an approver's queue, the pending grants you may decide (never your own, under any of your sign-in names)"),
    order: z.enum(['oldest', 'newest']).optional().describe('oldest (the default) or newest first, by when each was requested'),
    ...pageQuery,
  })
  .strict();

// The grant state machine's table names the states: the enum cannot drift from what the code allows.
const grant = z
  .object({ id: z.string().uuid(), state: z.enum(grantStates), deviceId: z.string(), requester: z.string(), duration: z.string(), expiresAt: z.string().nullable() })
  .passthrough()
  .describe(
    `States move ${Object.entries(allowedNext)
      .map(([from, to]) => `${from} → ${to.join(' | ') || '(final)'}`)
      .join('; ')}.`,
  );
const timeline = z.object({
  grantId: z.string().uuid(),
  deviceId: z.string(),
  entries: z.array(
    z.object({
      at: z.string(),
      kind: z.enum(timelineKinds),
      actor: z.object({ subject: z.string(), name: z.string().optional() }).optional(),
      reason: z.string().optional().describe("What a person wrote: the request's reason, the approver's comment, a denial's or revocation's reason"),
      ending: z.enum(endings).optional().describe('ended: how'),
      version: z.number().optional().describe('revealed: the version shown; rotated: the version the device confirmed'),
      dueBy: z.string().optional().describe('rotation-queued: when the new password is due at the latest'),
    }),
  ),
});
const reveal = z.object({
  deviceId: z.string(),
  account: z.string(),
  password: z.string(),
  version: z.number(),
  expiresAt: z.string(),
  unconfirmed: z.boolean().optional(),
  possiblyInEffect: z.object({ version: z.number(), password: z.string(), fetchedAt: z.string() }).optional(),
  changedSinceLastReveal: z
    .object({ previousVersion: z.number() })
    .optional()
    .describe('The password changed since it was last shown under this grant (the device rotated after another grant that revealed it ended).'),
});

/** What the grant routes call. */
export type GrantRouteService = Pick<GrantService, 'requestGrant' | 'listGrants' | 'getGrant' | 'grantTimeline' | 'approveGrant' | 'denyGrant' | 'revokeGrant' | 'revealPassword'>;

export function grantRoutes(grants: GrantRouteService): RouteGroup {
  return routeGroup('/v1/grants', [
    route({
      method: 'post',
      path: '/v1/grants',
      summary: 'Ask for elevation on a device (requester)',
      roles: ['requester'],
      limit: 'grantRequests',
      body: requestGrantBody,
      responses: { 201: { description: 'Active, or pending approval', json: grant } },
      problems: ['not-found', 'conflict', 'policy-denied'],
      handle: async ({ caller, body, context }) => ({ status: 201, body: await grants.requestGrant(caller, body, context) }),
    }),
    route({
      method: 'get',
      path: '/v1/grants',
      summary: 'List grants (your own, or all for approvers, admins, auditors; decidable=true: the approver’s queue)',
      roles: ['requester', 'approver', 'admin', 'auditor'],
      query: listQuery,
      etag: true,
      responses: { 200: { description: 'A page of grants', json: page(grant) } },
      handle: async ({ caller, query }) => ({ status: 200, body: await grants.listGrants(caller, { ...query, decidable: query.decidable === 'true' }) }),
    }),
    route({
      method: 'get',
      path: '/v1/grants/:id',
      summary: 'A grant, never a password',
      roles: ['requester', 'approver', 'admin', 'auditor'],
      params: grantParams,
      etag: true,
      responses: { 200: { description: 'The grant', json: grant } },
      problems: ['not-found'],
      handle: async ({ caller, params }) => ({ status: 200, body: await grants.getGrant(caller, params.id) }),
    }),
    route({
      method: 'get',
      path: '/v1/grants/:id/timeline',
      summary: "A grant's story: requested, approved by whom, each reveal, ended, rotated (confirmed by the device)",
      roles: ['requester', 'approver', 'admin', 'auditor'],
      params: grantParams,
      etag: true,
      responses: { 200: { description: 'The timeline, oldest first', json: timeline } },
      problems: ['not-found'],
      handle: async ({ caller, params }) => ({ status: 200, body: await grants.grantTimeline(caller, params.id) }),
    }),
    route({
      method: 'post',
      path: '/v1/grants/:id/approve',
      summary: 'Approve (an approver other than the requester)',
      roles: ['approver'],
      params: grantParams,
      body: approveBody,
      responses: { 200: { description: 'Active', json: grant } },
      problems: ['not-found', 'conflict', 'policy-denied'],
      handle: async ({ caller, params, body, context }) => ({ status: 200, body: await grants.approveGrant(caller, params.id, body.comment, context) }),
    }),
    route({
      method: 'post',
      path: '/v1/grants/:id/deny',
      summary: 'Deny (an approver other than the requester)',
      roles: ['approver'],
      params: grantParams,
      body: denyBody,
      responses: { 200: { description: 'Denied', json: grant } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, body, context }) => ({ status: 200, body: await grants.denyGrant(caller, params.id, body.reason, context) }),
    }),
    route({
      method: 'post',
      path: '/v1/grants/:id/revoke',
      summary: 'End a grant (its requester or an admin)',
      roles: ['requester', 'admin'],
      params: grantParams,
      body: revokeBody,
      responses: { 200: { description: 'Revoked', json: grant } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, body, context }) => ({ status: 200, body: await grants.revokeGrant(caller, params.id, body.reason, context) }),
    }),
    route({
      method: 'get',
      path: '/v1/grants/:id/password',
      summary: "The device's password, to the grant's requester while the grant is live; audited before it is sent (Cache-Control: no-store)",
      roles: ['requester'],
      limit: 'reveals',
      params: grantParams,
      responses: { 200: { description: 'The password', json: reveal } },
      // Refused reveals are audited as such (grant.password-revealed, denied or failure) before the problem leaves.
      problems: ['not-found', 'conflict', 'no-current-password', 'policy-denied'],
      handle: async ({ caller, params, context }) => {
        const revealed = await grants.revealPassword(caller, params.id, context);
        // The one place a user's password leaves the broker: audited already, never cached.
        const { possiblyInEffect: pending, ...shown } = revealed;
        return {
          status: 200,
          noStore: true,
          body: { ...shown, password: revealed.password.expose(), ...(pending ? { possiblyInEffect: { ...pending, password: pending.password.expose() } } : {}) },
        };
      },
    }),
  ]);
}
