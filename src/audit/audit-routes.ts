import { z } from 'zod';
import { RouteGroup, route, routeGroup } from '../http/route';
import { deviceId, emptyBody, page, pageQuery, subjectName } from '../http/validation';
import { exportFormats } from './audit-export';
import { AuditService } from './audit-service';

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

const exportQuery = z.object({ format: z.enum(exportFormats).default('jsonl'), from: rfc3339.optional(), to: rfc3339.optional() }).strict();

const auditEvent = z
  .object({
    seq: z.number(),
    at: z.string(),
    actor: z.object({ kind: z.string(), subject: z.string() }).passthrough(),
    action: z.string(),
    outcome: z.string(),
    hash: z.string(),
    prevHash: z.string(),
  })
  .passthrough();
const verifyResult = z.object({
  ok: z.boolean(),
  events: z.number(),
  headHash: z.string(),
  checkpoints: z.number().optional().describe('Signed checkpoints whose signature was checked.'),
  signedThroughSeq: z.number().optional().describe('The last event a checked checkpoint signature vouches for; 0 when none is.'),
  unsignedEvents: z.number().optional().describe('Checked events after signedThroughSeq, which no signature vouches for yet.'),
  firstBadSeq: z.number().optional(),
  problem: z.string().optional(),
});
const checkpoint = z.object({ seq: z.number(), hash: z.string(), signature: z.string(), keyId: z.string(), at: z.string() });

/** What the audit routes call. */
export type AuditRouteService = Pick<AuditService, 'queryEvents' | 'verifyLog' | 'checkpointKey' | 'signCheckpoint' | 'latestCheckpoint' | 'exportLog'>;

export function auditRoutes(audits: AuditRouteService): RouteGroup {
  return routeGroup('/v1/audit', [
    route({
      method: 'get',
      path: '/v1/audit/events',
      summary: 'Audit events, oldest first (auditor)',
      roles: ['auditor'],
      query: eventsQuery,
      responses: { 200: { description: 'A page of events', json: page(auditEvent) } },
      handle: async ({ caller, query }) => {
        const events = await audits.queryEvents(caller, query);
        return { status: 200, json: `{"items":${events.itemsJson},"nextCursor":${JSON.stringify(events.nextCursor)}}` };
      },
    }),
    route({
      method: 'get',
      path: '/v1/audit/verify',
      summary: 'Walk the hash chain (auditor)',
      roles: ['auditor'],
      query: verifyQuery,
      responses: { 200: { description: 'The result', json: verifyResult } },
      handle: async ({ caller, query }) => ({ status: 200, body: await audits.verifyLog(caller, { anchor: query.anchor }) }),
    }),
    route({
      method: 'get',
      path: '/v1/audit/checkpoint-key',
      summary: 'The public key that signs checkpoints (auditor)',
      roles: ['auditor'],
      query: z.object({}).strict(),
      responses: { 200: { description: 'A public JWK', json: z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }).passthrough() } },
      handle: async ({ caller }) => ({ status: 200, body: await audits.checkpointKey(caller) }),
    }),
    // An auditor takes a checkpoint to keep: later, verify with it as the anchor catches a log cut short or restored.
    route({
      method: 'post',
      path: '/v1/audit/checkpoints',
      summary: 'Sign a checkpoint of the chain head now (auditor)',
      roles: ['auditor'],
      body: emptyBody,
      responses: { 201: { description: 'Signed and appended', json: checkpoint } },
      handle: async ({ caller }) => ({ status: 201, body: await audits.signCheckpoint(caller) }),
    }),
    route({
      method: 'get',
      path: '/v1/audit/checkpoints/latest',
      summary: 'The last checkpoint (auditor)',
      roles: ['auditor'],
      responses: { 200: { description: 'The checkpoint', json: checkpoint } },
      problems: ['not-found'],
      handle: async ({ caller }) => ({ status: 200, body: await audits.latestCheckpoint(caller) }),
    }),
    // Streamed: constant memory whatever the range. The export is audited before its first byte.
    route({
      method: 'get',
      path: '/v1/audit/export',
      summary: 'Stream the log with each event as hashed and its hash (auditor)',
      roles: ['auditor'],
      query: exportQuery,
      responses: { 200: { description: 'JSONL or CSV', content: { 'application/x-ndjson': z.string(), 'text/csv': z.string() } } },
      handle: async ({ caller, query, context }) => ({
        status: 200,
        stream: {
          type: query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
          headers: { 'Content-Disposition': `attachment; filename="jitbroker-audit.${query.format}"` },
          lines: await audits.exportLog(caller, query, context),
        },
      }),
    }),
  ]);
}
