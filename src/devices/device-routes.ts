import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { agentKey, deviceId, emptyBody, groupName, page, pageQuery, shortText } from '../http/validation';
import { DeviceService } from './device-service';
import { deviceStatuses } from './device';

const enrolDeviceBody = z
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
const deviceParams = z.object({ id: deviceId }).strict();
/** `?force=true` retires a device that still holds a password a requester was shown (audited as such). */
const retireQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();
export const listQuery = z.object({ group: groupName.optional(), status: z.enum(deviceStatuses).optional(), ...pageQuery }).strict();

const device = z
  .object({
    id: z.string(),
    displayName: z.string(),
    groups: z.array(z.string()),
    account: z.string(),
    agentKey: z.record(z.string()),
    status: z.enum(deviceStatuses),
    createdAt: z.string(),
    retiredAt: z.string().nullable(),
    credential: z.object({
      currentVersion: z.number().nullable(),
      pendingVersion: z.number().nullable(),
      lastRotatedAt: z.string().nullable(),
      nextRotationDue: z.string().nullable(),
    }),
    rotation: z.object({ failing: z.boolean(), failures: z.number(), lastError: z.string().nullable(), ackOverdue: z.boolean() }).passthrough(),
  })
  .passthrough();

/** What the device routes call. */
export type DeviceRouteService = Pick<DeviceService, 'enrolDevice' | 'listDevices' | 'getDevice' | 'rotateDevice' | 'retireDevice'>;

export function deviceRoutes(devices: DeviceRouteService): RouteGroup {
  return routeGroup('/v1/devices', [
    route({
      method: 'post',
      path: '/v1/devices',
      summary: 'Enrol a device; its initial password waits for the agent (admin)',
      roles: ['admin'],
      body: enrolDeviceBody,
      responses: { 201: { description: 'Enrolled', json: device } },
      problems: ['conflict'],
      handle: async ({ caller, body, context }) => ({ status: 201, body: await devices.enrolDevice(caller, body, context) }),
    }),
    route({
      method: 'get',
      path: '/v1/devices',
      summary: 'List devices',
      roles: ['admin', 'auditor', 'approver'],
      query: listQuery,
      responses: { 200: { description: 'A page of devices', json: page(device) } },
      handle: async ({ caller, query }) => ({ status: 200, body: await devices.listDevices(caller, query) }),
    }),
    route({
      method: 'get',
      path: '/v1/devices/:id',
      summary: 'A device and its credential state, never a secret',
      roles: ['admin', 'auditor', 'approver'],
      params: deviceParams,
      responses: { 200: { description: 'The device', json: device } },
      problems: ['not-found'],
      handle: async ({ caller, params }) => ({ status: 200, body: await devices.getDevice(caller, params.id) }),
    }),
    route({
      method: 'post',
      path: '/v1/devices/:id/rotate',
      summary: 'Force a rotation (admin)',
      roles: ['admin'],
      params: deviceParams,
      body: emptyBody,
      responses: { 202: { description: 'Queued', json: z.object({ jobId: z.string() }) } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, context }) => ({ status: 202, body: await devices.rotateDevice(caller, params.id, context) }),
    }),
    route({
      method: 'delete',
      path: '/v1/devices/:id',
      summary: 'Retire a device (admin); refused (409) while it holds a password a requester was shown, unless force=true',
      roles: ['admin'],
      params: deviceParams,
      body: emptyBody,
      query: retireQuery,
      responses: { 200: { description: 'Retired', json: device } },
      problems: ['not-found', 'conflict'],
      handle: async ({ caller, params, query, context }) => ({ status: 200, body: await devices.retireDevice(caller, params.id, { force: query.force === 'true' }, context) }),
    }),
  ]);
}
