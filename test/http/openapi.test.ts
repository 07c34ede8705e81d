import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { createHttpApp } from '../../src/http/http-app';
import { TestApp, createTestApp } from '../support/test-app';
import { repoRoot } from '../support/daemon-process';
import { bearer } from '../support/bearer';

describe('GET /openapi.json', () => {
  let h: TestApp;
  beforeAll(async () => {
    h = await createTestApp();
  });
  afterAll(async () => {
    await h.close();
  });

  it('is a valid OpenAPI 3.1 document (checked by an independent validator)', async () => {
    const res = await h.api.get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const file = path.join(h.dataDir, 'openapi.json');
    fs.writeFileSync(file, res.text);
    const cli = path.join(repoRoot, 'node_modules', '@seriousme', 'openapi-schema-validator', 'bin', 'validate-api-cli.js');
    const r = spawnSync(process.execPath, [cli, file], { encoding: 'utf8' });
    expect(JSON.parse(r.stdout)).toEqual({ valid: true });
  });

  it('covers every mounted route, and nothing that is not mounted', async () => {
    const app = createHttpApp({ ...h, logger: pino({ level: 'silent' }), ready: h.ready, httpSettings: { trustProxy: 0, rateLimits: h.config.http.rateLimits } });
    const mounted = (app.locals.routes as string[]).map((r) => r.replace(/:([A-Za-z]+)/g, '{$1}')).sort();
    const doc = (await h.api.get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(mounted.length).toBeGreaterThan(25);
    expect(documented).toEqual(mounted);
    // The list above is what the app says it mounted; count what express really routes, so a route
    // added beside mount() (app.get, router.use) cannot escape the comparison.
    type Layer = { route?: { methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
    const routed = (stack: Layer[]): number => stack.reduce((n, l) => n + (l.route ? Object.keys(l.route.methods).length : l.handle?.stack ? routed(l.handle.stack) : 0), 0);
    expect(routed((app as unknown as { _router: { stack: Layer[] } })._router.stack)).toBe(mounted.length);
  });

  it('documents every field of an answer (the audit verify result, with the checkpoint coverage an auditor relies on)', async () => {
    const doc = (await h.api.get('/openapi.json')).body;
    const auditor = await h.token('auditor-1', ['auditor']);
    const res = await h.api.get('/v1/audit/verify').set(bearer(auditor)).expect(200);
    const schema = doc.paths['/v1/audit/verify'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(res.body).length).toBeGreaterThan(3);
    for (const field of Object.keys(res.body)) expect(Object.keys(schema.properties)).toContain(field);
  });

  it('documents bearer security, problem documents and the request schemas the routes validate with', async () => {
    const doc = (await h.api.get('/openapi.json')).body;
    expect(doc.components.securitySchemes).toMatchObject({ bearer: { type: 'http', scheme: 'bearer' }, deviceKey: { type: 'http', scheme: 'bearer' } });
    const grant = doc.paths['/v1/grants'].post;
    expect(grant.security).toEqual([{ bearer: [] }]);
    const body = grant.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['deviceId', 'reason', 'duration']));
    expect(body.additionalProperties).toBe(false);
    expect(grant.responses['403'].content['application/problem+json'].schema.properties.code.enum).toContain('policy-denied');
    expect(doc.paths['/v1/agent/credential'].get.security).toEqual([{ deviceKey: [] }]);
    expect(doc.paths['/v1/escalations'].post.responses['422']).toBeDefined();
  });

  it('documents every problem a route can answer, each code under its status, however many share one', async () => {
    const doc = (await h.api.get('/openapi.json')).body;
    const codes = (op: { responses: Record<string, { content?: Record<string, { schema: { properties?: { code?: { enum?: string[] } } } }> }> }, status: string) =>
      op.responses[status]?.content?.['application/problem+json']?.schema.properties?.code?.enum ?? [];
    const ask = doc.paths['/v1/grants'].post;
    expect(codes(ask, '403')).toEqual(expect.arrayContaining(['forbidden', 'policy-denied']));
    expect(codes(ask, '404')).toEqual(['not-found']);
    expect(codes(ask, '409')).toEqual(['conflict']);
    const reveal = doc.paths['/v1/grants/{id}/password'].get;
    expect(codes(reveal, '409')).toEqual(expect.arrayContaining(['conflict', 'no-current-password']));
    expect(codes(reveal, '403')).toEqual(expect.arrayContaining(['forbidden', 'policy-denied']));
    // What every route called with a credential can answer: a bad request, a refused credential, a limit, an outage.
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, Parameters<typeof codes>[0]>>)) {
      if (!p.startsWith('/v1/')) continue;
      for (const op of Object.values(ops))
        for (const [status, code] of [
          ['400', 'invalid-request'],
          ['401', 'unauthenticated'],
          ['429', 'rate-limited'],
          ['503', 'unavailable'],
        ])
          expect([p, codes(op, status as string)]).toEqual([p, expect.arrayContaining([code])]);
    }
  });
});
