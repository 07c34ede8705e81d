import { Router } from 'express';
import { z } from 'zod';
import { deviceOf, handle } from '../http/handle';
import { parse, shortText } from '../http/validation';
import { RotationService } from './rotation-service';

export const ackParams = z
  .object({
    version: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
  })
  .strict();
export const ackBody = z.object({ result: z.enum(['set', 'failed']), error: shortText(1000).optional() }).strict();

export function agentRoutes(deps: { rotations: Pick<RotationService, 'fetchPending' | 'acknowledge'> }): Router {
  const r = Router({ caseSensitive: true, strict: true });
  r.get(
    '/credential',
    handle(async (req) => {
      const { deviceId } = deviceOf(req);
      const pending = await deps.rotations.fetchPending(deviceId, req.context);
      if (!pending) return { status: 204 };
      // The agent's copy of a new password: audited as fetched before it leaves, never cached.
      return { status: 200, noStore: true, body: { version: pending.version, account: pending.account, password: pending.password.expose() } };
    }),
  );
  r.post(
    '/credential/:version/ack',
    handle(async (req) => {
      const { version } = parse(ackParams, req.params, 'params');
      const body = parse(ackBody, req.body, 'body');
      await deps.rotations.acknowledge(deviceOf(req).deviceId, version, body.result, body.error, req.context);
      return { status: 204 };
    }),
  );
  return r;
}
