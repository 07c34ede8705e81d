import { RequestHandler, Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { deviceId, duration, pageQuery, parse, shortText, subjectName, uuid } from '../http/validation';
import { maxTicketLength } from '../policies/ticket-pattern';
import { grantStates } from './grant';
import { GrantService } from './grant-service';

export const requestGrantBody = z.object({ deviceId, reason: shortText(500), ticket: shortText(maxTicketLength).optional(), duration }).strict();
export const approveBody = z.object({ comment: shortText(500).optional() }).strict();
export const denyBody = z.object({ reason: shortText(500) }).strict();
export const revokeBody = z.object({ reason: shortText(500).optional() }).strict();
export const grantParams = z.object({ id: uuid }).strict();
export const listQuery = z.object({ state: z.enum(grantStates).optional(), deviceId: deviceId.optional(), requester: subjectName.optional(), ...pageQuery }).strict();

/** The per-principal abuse limits, each attached to the route it guards. */
export interface GrantRouteLimits {
  grantRequests: RequestHandler;
  reveals: RequestHandler;
}

export function grantRoutes(grants: GrantService, limits: GrantRouteLimits): Router {
  const r = Router({ caseSensitive: true, strict: true });
  const id = (params: unknown) => parse(grantParams, params, 'params').id;
  r.post(
    '/',
    limits.grantRequests,
    handle(async (req) => ({ status: 201, body: await grants.requestGrant(userOf(req), parse(requestGrantBody, req.body, 'body'), req.context) })),
  );
  r.get(
    '/',
    handle(async (req) => ({ status: 200, body: await grants.listGrants(userOf(req), parse(listQuery, req.query, 'query')) })),
  );
  r.get(
    '/:id',
    handle(async (req) => ({ status: 200, body: await grants.getGrant(userOf(req), id(req.params)) })),
  );
  r.post(
    '/:id/approve',
    handle(async (req) => ({ status: 200, body: await grants.approveGrant(userOf(req), id(req.params), parse(approveBody, req.body, 'body').comment, req.context) })),
  );
  r.post(
    '/:id/deny',
    handle(async (req) => ({ status: 200, body: await grants.denyGrant(userOf(req), id(req.params), parse(denyBody, req.body, 'body').reason, req.context) })),
  );
  r.post(
    '/:id/revoke',
    handle(async (req) => ({ status: 200, body: await grants.revokeGrant(userOf(req), id(req.params), parse(revokeBody, req.body, 'body').reason, req.context) })),
  );
  // The limit is part of the route, not a pattern over the URL: whatever spelling reaches this handler passed it.
  r.get(
    '/:id/password',
    limits.reveals,
    handle(async (req) => {
      const reveal = await grants.revealPassword(userOf(req), id(req.params), req.context);
      // The one place a user's password leaves the broker: audited already, never cached.
      const { possiblyInEffect: pending, ...shown } = reveal;
      return {
        status: 200,
        noStore: true,
        body: { ...shown, password: reveal.password.expose(), ...(pending ? { possiblyInEffect: { ...pending, password: pending.password.expose() } } : {}) },
      };
    }),
  );
  return r;
}
