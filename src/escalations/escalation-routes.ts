import { Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { deviceId, pageQuery, parse, shortText, uuid } from '../http/validation';
import { escalationStatuses } from './escalation';
import { EscalationService } from './escalation-service';

export const fileBody = z
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
export const statusBody = z.object({ status: z.enum(escalationStatuses), note: shortText(1000).optional() }).strict();
export const params = z.object({ id: uuid }).strict();
export const listQuery = z.object({ status: z.enum(escalationStatuses).optional(), ...pageQuery }).strict();

export function escalationRoutes(escalations: EscalationService): Router {
  const r = Router({ caseSensitive: true, strict: true });
  r.post(
    '/',
    handle(async (req) => ({ status: 201, body: await escalations.fileEscalation(userOf(req), parse(fileBody, req.body, 'body'), req.context) })),
  );
  r.get(
    '/',
    handle(async (req) => ({ status: 200, body: await escalations.listEscalations(userOf(req), parse(listQuery, req.query, 'query')) })),
  );
  r.get(
    '/:id',
    handle(async (req) => ({ status: 200, body: await escalations.getEscalation(userOf(req), parse(params, req.params, 'params').id) })),
  );
  r.patch(
    '/:id',
    handle(async (req) => {
      const { id } = parse(params, req.params, 'params');
      const body = parse(statusBody, req.body, 'body');
      return { status: 200, body: await escalations.setStatus(userOf(req), id, body.status, body.note, req.context) };
    }),
  );
  return r;
}
