import { Router } from 'express';
import { z } from 'zod';
import { handle, userOf } from '../http/handle';
import { deviceId, emptyBody, pageQuery, parse, subjectName } from '../http/validation';
import { DomainError } from '../problems/problem';
import { AuditCheckpoints } from './audit-checkpoints';
import { requireRole } from '../identity/principal';
import { decodeCursor, encodeCursor } from '../store/paging';
import { Transactor } from '../store/transactor';
import { actorOf } from './actor';
import { exportFormats, exportLines } from './audit-export';
import { AuditLog } from './audit-log';
import { CheckpointSigner } from './checkpoint-signer';

const rfc3339 = z
  .string()
  .datetime({ offset: true, message: 'an RFC 3339 time, e.g. 2026-11-25T10:00:00Z' })
  .transform((v) => new Date(v).toISOString());
export const eventsQuery = z
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

export const verifyQuery = z
  .object({
    anchor: z
      .string()
      .regex(/^[1-9][0-9]{0,15}:[0-9a-f]{64}$/, 'seq:hash of an event you noted earlier, e.g. 42:9f86d0…')
      .transform((v) => ({ seq: Number(v.split(':')[0]), hash: v.split(':')[1] as string }))
      .optional(),
  })
  .strict();

export const exportQuery = z.object({ format: z.enum(exportFormats).default('jsonl'), from: rfc3339.optional(), to: rfc3339.optional() }).strict();

export function auditRoutes(deps: { audit: AuditLog; transactor: Transactor; signer: CheckpointSigner; checkpoints: Pick<AuditCheckpoints, 'checkpointNow' | 'latest'> }): Router {
  const { audit } = deps;
  const r = Router({ caseSensitive: true, strict: true });
  r.get(
    '/events',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      const q = parse(eventsQuery, req.query, 'query');
      const after = decodeCursor(q.cursor, ['number']);
      const page = await audit.queryJson({ ...q, afterSeq: after?.[0] });
      return { status: 200, json: `{"items":${page.itemsJson},"nextCursor":${JSON.stringify(page.nextSeq === null ? null : encodeCursor([page.nextSeq]))}}` };
    }),
  );
  r.get(
    '/verify',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      const { anchor } = parse(verifyQuery, req.query, 'query');
      return { status: 200, body: await audit.verify({ anchor, checkpointKey: deps.signer.publicKey }) };
    }),
  );
  r.get(
    '/checkpoint-key',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      parse(z.object({}).strict(), req.query, 'query');
      return { status: 200, body: deps.signer.publicJwk };
    }),
  );
  // An auditor takes a checkpoint to keep: later, verify with it as the anchor catches a log cut short or restored.
  r.post(
    '/checkpoints',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      parse(emptyBody, req.body, 'body');
      return { status: 201, body: await deps.checkpoints.checkpointNow() };
    }),
  );
  r.get(
    '/checkpoints/latest',
    handle(async (req) => {
      requireRole(userOf(req), 'auditor');
      const latest = await deps.checkpoints.latest();
      if (!latest) throw new DomainError('not-found', 'No checkpoint has been signed yet.');
      return { status: 200, body: latest };
    }),
  );
  // Streamed: constant memory whatever the range. The export is audited before its first byte.
  r.get('/export', (req, res, next) => {
    void (async () => {
      const p = userOf(req);
      requireRole(p, 'auditor');
      const q = parse(exportQuery, req.query, 'query');
      await deps.transactor.run(
        (tx) =>
          audit.append(tx, {
            actor: actorOf(p),
            action: 'audit.exported',
            outcome: 'success',
            details: { format: q.format, from: q.from ?? null, to: q.to ?? null },
            context: req.context,
          }),
        { singleWrite: true },
      );
      res.status(200);
      res.setHeader('Content-Type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="jitbroker-audit.${q.format}"`);
      let aborted = false;
      res.once('close', () => (aborted = true));
      for await (const line of exportLines(audit.links({ from: q.from, to: q.to }), q.format)) {
        if (aborted) return;
        if (!res.write(line)) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end();
    })().catch((e: unknown) => {
      // Before the first byte a problem document can still be sent; after it, only cutting the stream tells the client.
      if (res.headersSent) res.destroy(e instanceof Error ? e : undefined);
      else next(e);
    });
  });
  return r;
}
