import { z } from 'zod';
import { grantStates } from '../grants/grant';
import { RouteGroup, route, routeGroup } from '../http/route';
import { shortText } from '../http/validation';
import { ElevationService } from './elevation-service';

// An empty or blank q is no search at all (the caller's recent devices), not a refused one.
const findQuery = z
  .object({
    q: z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), shortText(100).optional()),
    limit: z.coerce.number().int().min(1).max(50).default(20),
  })
  .strict();

const elevationDevice = z.object({
  id: z.string(),
  displayName: z.string(),
  groups: z.array(z.string()).optional().describe('Only for a device you may elevate on, or asked for before.'),
  account: z.string().optional().describe('Only for a device you may elevate on, or asked for before.'),
  recent: z.boolean().describe('You asked for elevation on it before: recent devices come first, newest request first.'),
  lastRequestedAt: z.string().nullable(),
  eligibility: z
    .object({
      allowed: z.boolean(),
      reason: z.string().optional().describe("Why not: the policy decision's own refusal."),
      maxDuration: z.string().optional().describe('The longest grant you may ask for here (ISO 8601).'),
      maxDurationSeconds: z.number().optional(),
      requireTicket: z.boolean(),
      ticketPattern: z.string().optional().describe('An RE2 pattern the whole ticket must match.'),
      requireApproval: z.boolean(),
      openGrant: z
        .object({ id: z.string().uuid(), state: z.enum(grantStates) })
        .optional()
        .describe('Your pending or active grant on this device: another request is refused while it lasts.'),
    })
    .describe('What the policies as they are now allow you here, judged on a 15-minute request: the request form’s limits.'),
});

/** What the elevation routes call. */
export type ElevationRouteService = Pick<ElevationService, 'findDevices'>;

export function elevationRoutes(elevation: ElevationRouteService): RouteGroup {
  return routeGroup('/v1/elevation', [
    route({
      method: 'get',
      path: '/v1/elevation/devices',
      summary: 'Find a device to elevate on, by id prefix or name, your recent ones first, with whether and how you may (requester)',
      roles: ['requester'],
      query: findQuery,
      responses: { 200: { description: 'Matching active devices (no q: your recent ones)', json: z.object({ items: z.array(elevationDevice) }) } },
      handle: async ({ caller, query }) => ({ status: 200, body: await elevation.findDevices(caller, query) }),
    }),
  ]);
}
