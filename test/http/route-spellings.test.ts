import http from 'node:http';
import pino from 'pino';
import { createHttpApp } from '../../src/http/http-app';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

/** A GET sent byte for byte as written: no client normalises the path (WHATWG URLs would). */
function rawGet(base: string, path: string, token: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method: 'GET', headers: { ...bearer(token) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('no spelling of a URL escapes the limit on its route, or makes a metric series of its own', () => {
  let s: Scenario;
  let base: string;
  let grantId: string;
  beforeAll(async () => {
    s = await createScenario({}, { JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '1' });
    base = await s.h.listen();
    grantId = (await requestGrant(s, s.tokens.alice)).id;
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('with the reveal limit spent, every other spelling of the reveal is 404 or 429, never a password', async () => {
    const first = await rawGet(base, `/v1/grants/${grantId}/password`, s.tokens.alice);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).password).toBe(s.password);
    const spellings = [
      `/v1/grants/${grantId}/password`,
      `/v1/grants/${grantId}/PASSWORD`,
      `/v1/grants/${grantId}/Password`,
      `/v1/grants/${grantId}/password/`,
      `/v1/grants/${grantId}/password//`,
      `/v1/grants//${grantId}/password`,
      `/v1/grants/${grantId}//password`,
      `//v1/grants/${grantId}/password`,
      `/v1/grants/${grantId}%2Fpassword`,
      `/v1/grants/${grantId}/password%2F`,
      `/v1/grants/${grantId}/%70assword`,
      `/v1/grants/./${grantId}/password`,
      `/v1/grants/${grantId}/./password`,
      `/v1/GRANTS/${grantId}/password`,
      `/V1/grants/${grantId}/password`,
      `/v1/grants/${grantId.toUpperCase()}/password`,
      `/v1/grants/${grantId}/password?x=1`,
      `/v1/grants/${grantId}/password;x=1`,
    ];
    const answers: string[] = [];
    for (const path of spellings) {
      const res = await rawGet(base, path, s.tokens.alice);
      expect(res.body).not.toContain(s.password);
      answers.push(`${path} ${res.status}`);
    }
    // 400 for the one spelling that reaches GET /v1/grants/:id with an id that is not a uuid.
    expect(answers.filter((a) => !/ (404|429)$/.test(a))).toEqual([`/v1/grants/${grantId}%2Fpassword 400`]);
    // The spellings that do reach the reveal route met its limit.
    expect(answers).toContain(`/v1/grants/${grantId}/password?x=1 429`);
    expect(answers).toContain(`/v1/grants/${grantId}/PASSWORD 404`);
  });

  it('after many casings, the route label of every series is a declared route pattern, the prefix of one, or (unmatched)', async () => {
    const casings = [
      `/v1/GRANTS/${grantId}`,
      `/V1/Grants/${grantId}`,
      `/v1/grants/${grantId}/`,
      '/v1/Devices',
      '/v1/DEVICES/laptop-7',
      '/HEALTHZ',
      '/healthz/',
      '/v1/agent/CREDENTIAL',
    ];
    for (const path of casings) expect([path, [401, 404].includes((await rawGet(base, path, s.tokens.admin)).status)]).toEqual([path, true]);
    const app = createHttpApp({ ...s.h, logger: pino({ level: 'silent' }), ready: s.h.ready, httpSettings: { trustProxy: 0, rateLimits: s.h.config.http.rateLimits } });
    const declared = (app.locals.routes as string[]).map((r) => r.split(' ')[1] as string);
    // A route declared as a router's '/' is labelled with its slash; a request no route took, with its mount's prefix.
    const allowed = new Set(['(unmatched)', ...declared, ...declared.map((p) => `${p}/`), ...declared.map((p) => `${p.split('/').slice(0, 3).join('/')}/*`)]);
    const text = (await s.h.api.get('/metrics')).text;
    const routes = new Set([...text.matchAll(/^jitbroker_http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1] as string));
    expect(routes).toContain('(unmatched)');
    expect(routes).toContain('/v1/grants/:id/password');
    expect([...routes].filter((r) => !allowed.has(r))).toEqual([]);
  });
});
