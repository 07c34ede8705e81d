import { Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { deviceId, pageQuery, parse, subjectName } from '../http/validation';
import { requireRole } from '../identity/principal';
import { decodeCursor, encodeCursor } from '../store/paging';
import { AuditLog } from './audit-log';

const rfc3339 = z
  .string()
  .datetime({ offset: true, message: 'an RFC 3339 time, e.g. 2026-11-25T10:00:00Z' })
  .transform((v) => new Date(v).toISOString());
const eventsQuery = z
  .object({
    actor: subjectName.optional(),
    deviceId: deviceId.optional(),
    action: z
      .string()
      .regex(/^[a-z][a-z.-]{0,63}$/, 'an action name such as grant.requested')
      .optional(),
    outcome: z.enum(['success', 'denied', 'failure']).optional(),
    requestId: z.string().max(128).optional(),
    from: rfc3339.optional(),
    to: rfc3339.optional(),
    ...pageQuery,
  })
  .strict();

const verifyQuery = z
  .object({
    anchor: z
      .string()
      .regex(/^[1-9][0-9]{0,15}:[0-9a-f]{64}$/, 'seq:hash of an event you noted earlier, e.g. 42:9f86d0…')
      .transform((v) => ({ seq: Number(v.split(':')[0]), hash: v.split(':')[1] as string }))
      .optional(),
  })
  .strict();

export function auditRoutes(audit: AuditLog): Router {
  const r = Router();
  r.get(
    '/events',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      const q = parse(eventsQuery, req.query, 'query');
      const after = decodeCursor(q.cursor, ['number']);
      const page = await audit.query({ ...q, afterSeq: after?.[0] });
      return { status: 200, body: { items: page.items, nextCursor: page.nextSeq === null ? null : encodeCursor([page.nextSeq]) } };
    }),
  );
  r.get(
    '/verify',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      const { anchor } = parse(verifyQuery, req.query, 'query');
      return { status: 200, body: await audit.verify(anchor) };
    }),
  );
  return r;
}
