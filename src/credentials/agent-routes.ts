import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { shortText } from '../http/validation';
import { RotationService } from './rotation-service';

const ackParams = z
  .object({
    version: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
  })
  .strict();
const ackBody = z.object({ result: z.enum(['set', 'failed']), error: shortText(1000).optional() }).strict();

/** What the agent routes call. */
export type AgentRouteService = Pick<RotationService, 'fetchPending' | 'acknowledge'>;

export function agentRoutes(rotations: AgentRouteService): RouteGroup {
  return routeGroup('/v1/agent', [
    route({
      method: 'get',
      path: '/v1/agent/credential',
      summary: 'The pending password the device must set',
      roles: 'agent',
      responses: {
        200: { description: 'Set this', json: z.object({ version: z.number(), account: z.string(), password: z.string() }) },
        204: { description: 'Nothing to do' },
      },
      handle: async ({ caller, context }) => {
        const pending = await rotations.fetchPending(caller.deviceId, context);
        if (!pending) return { status: 204 };
        // The agent's copy of a new password: audited as fetched before it leaves, never cached.
        return { status: 200, noStore: true, body: { version: pending.version, account: pending.account, password: pending.password.expose() } };
      },
    }),
    route({
      method: 'post',
      path: '/v1/agent/credential/:version/ack',
      summary: 'The device set (or failed to set) a version',
      roles: 'agent',
      params: ackParams,
      body: ackBody,
      responses: { 204: { description: 'Recorded' } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, body, context }) => {
        await rotations.acknowledge(caller.deviceId, params.version, body.result, body.error, context);
        return { status: 204 };
      },
    }),
  ]);
}
