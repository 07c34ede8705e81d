import { Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { agentKey, deviceId, emptyBody, groupName, pageQuery, parse, shortText } from '../http/validation';
import { DeviceService } from './device-service';

export const enrolDeviceBody = z
  .object({
    id: deviceId,
    displayName: shortText(200).optional(),
    groups: z.array(groupName).min(1, 'at least one group').max(50),
    account: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'an account name is 1–64 of A–Z a–z 0–9 . _ -')
      .optional(),
    agentKey,
  })
  .strict();
export const deviceParams = z.object({ id: deviceId }).strict();
/** `?force=true` retires a device that still holds a password a requester was shown (audited as such). */
export const retireQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();
export const listQuery = z.object({ group: groupName.optional(), status: z.enum(['active', 'retired']).optional(), ...pageQuery }).strict();

export function deviceRoutes(devices: DeviceService): Router {
  const r = Router({ caseSensitive: true, strict: true });
  r.post(
    '/',
    handle(async (req) => ({ status: 201, body: await devices.enrolDevice(userOf(req), parse(enrolDeviceBody, req.body, 'body'), req.context) })),
  );
  r.get(
    '/',
    handle(async (req) => ({ status: 200, body: await devices.listDevices(userOf(req), parse(listQuery, req.query, 'query')) })),
  );
  r.get(
    '/:id',
    handle(async (req) => ({ status: 200, body: await devices.getDevice(userOf(req), parse(deviceParams, req.params, 'params').id) })),
  );
  r.post(
    '/:id/rotate',
    handle(async (req) => {
      const { id } = parse(deviceParams, req.params, 'params');
      parse(emptyBody, req.body, 'body');
      return { status: 202, body: await devices.rotateDevice(userOf(req), id, req.context) };
    }),
  );
  r.delete(
    '/:id',
    handle(async (req) => {
      const { id } = parse(deviceParams, req.params, 'params');
      parse(emptyBody, req.body, 'body');
      const { force } = parse(retireQuery, req.query, 'query');
      return { status: 200, body: await devices.retireDevice(userOf(req), id, { force: force === 'true' }, req.context) };
    }),
  );
  return r;
}
