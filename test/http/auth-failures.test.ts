import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { AuditInput } from '../../src/audit/audit-event';
import { authenticateDevice, authenticateUser } from '../../src/http/auth';
import { createErrorHandler } from '../../src/http/error-handler';
import { createRateLimits } from '../../src/http/rate-limits';
import { requestContext } from '../../src/http/handle';
import { IdentityProvider } from '../../src/identity/identity-provider';
import { DomainError } from '../../src/problems/problem';
import { Transactor } from '../../src/store/transactor';
import { TestApp, createTestApp } from '../support/test-app';

describe('failed authentications are audited (auth.failed) before the 401 leaves', () => {
  let h: TestApp;
  beforeAll(async () => {
    h = await createTestApp();
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([
    ['no Authorization header', undefined, /bearer token is required/],
    ['a header without the Bearer scheme', 'Basic YWxpY2U6cHc=', /must be "Bearer <JWT>"/],
    ['a token that does not verify', 'Bearer aaaa.bbbb.cccc', /Bearer token rejected: the token is malformed/],
  ])('%s: one auth.failed event, anonymous, with the reason and nothing of the credential', async (_name, header, reason) => {
    const before = (await h.audit.head()).seq;
    let req = h.api.get('/v1/policies');
    if (header) req = req.set('authorization', header);
    const res = await req;
    expect(res.status).toBe(401);
    // RFC 6750 §3: the scheme always; an error code only when a credential was sent.
    expect(res.headers['www-authenticate']).toBe(header ? 'Bearer realm="jitbroker", error="invalid_token"' : 'Bearer realm="jitbroker"');
    // No drain: the event is committed before the answer.
    const added = (await h.audit.query({ afterSeq: before, limit: 10 })).items;
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({
      action: 'auth.failed',
      outcome: 'denied',
      actor: { kind: 'anonymous', subject: 'anonymous' },
      target: 'GET /v1/policies',
      details: { credential: 'user' },
    });
    expect(added[0]?.reason).toMatch(reason);
    expect(JSON.stringify(added[0])).not.toMatch(/YWxpY2U6cHc|aaaa\.bbbb/);
  });

  it('audits a refused device token the same way', async () => {
    const before = (await h.audit.head()).seq;
    expect((await h.api.get('/v1/agent/credential').set('authorization', 'Bearer aaaa.bbbb.cccc')).status).toBe(401);
    const added = (await h.audit.query({ afterSeq: before, limit: 10 })).items;
    expect(added.map((e) => [e.action, e.details])).toEqual([['auth.failed', { credential: 'device' }]]);
  });
});

describe('when the audit of a failed authentication cannot be written', () => {
  /** An app whose audit store fails: every refused token goes through authenticateUser/Device, a 2-per-window auth-failure limit in front. */
  function brokenAuditApp(refusal: DomainError) {
    const logLines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void logLines.push(s) });
    const appended: AuditInput[] = [];
    const broken: Transactor = { run: () => Promise.reject(new Error('disk I/O error')), drain: async () => {} };
    const audit = { append: async (_tx: unknown, e: AuditInput) => void appended.push(e) } as never;
    const identity: IdentityProvider = { mode: 'test', verify: () => Promise.reject(refusal) };
    const limits = createRateLimits({
      settings: { windowSeconds: 60, requestsPerAddress: 1000, authFailuresPerAddress: 2, grantRequestsPerPrincipal: 1000, revealsPerPrincipal: 1000 },
      audit,
      transactor: broken,
      logger,
    });
    const app = express();
    app.use(requestContext);
    const authAudit = { audit, transactor: broken, logger, failures: limits.authFailures };
    app.get('/v1/x', authenticateUser(identity, authAudit), (_req, res) => void res.json({}));
    app.get('/v1/agent', authenticateDevice({ verify: identity.verify as never }, authAudit), (_req, res) => void res.json({}));
    app.use(createErrorHandler({ audit, transactor: broken, logger }));
    return { app, logLines, appended };
  }

  it('fails closed: answers 503 unavailable, not the 401, and logs the audit failure', async () => {
    const { app, logLines, appended } = brokenAuditApp(new DomainError('unauthenticated', 'Bearer token rejected: the token has expired.'));
    for (const path of ['/v1/x', '/v1/agent']) {
      const res = await request(app).get(path).set('authorization', 'Bearer aaaa.bbbb.cccc');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(res.body).toMatchObject({ code: 'unavailable', detail: 'The audit log is unavailable; the request was refused.' });
      // The refusal's reason is not told to a caller whose refusal left no trace.
      expect(res.text).not.toMatch(/expired/);
    }
    expect(logLines.filter((l) => l.includes('could not audit a failed authentication') && l.includes('disk I/O error'))).toHaveLength(2);
    expect(appended).toEqual([]);
  });

  it('a forbidden token (403 from the identity provider) fails closed the same way', async () => {
    const { app } = brokenAuditApp(new DomainError('forbidden', 'Your token carries too many groups.'));
    const res = await request(app).get('/v1/x').set('authorization', 'Bearer aaaa.bbbb.cccc');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('unavailable');
  });

  it('still counts each unaudited refusal against the per-address limit on failed authentications', async () => {
    const { app } = brokenAuditApp(new DomainError('unauthenticated', 'Bearer token rejected: the token has expired.'));
    expect((await request(app).get('/v1/x').set('authorization', 'Bearer aaaa.bbbb.cccc')).status).toBe(503);
    expect((await request(app).get('/v1/agent').set('authorization', 'Bearer aaaa.bbbb.cccc')).status).toBe(503);
    const third = await request(app).get('/v1/x').set('authorization', 'Bearer aaaa.bbbb.cccc');
    expect(third.status).toBe(429);
    expect(third.body.code).toBe('rate-limited');
  });
});
