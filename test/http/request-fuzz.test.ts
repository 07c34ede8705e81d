import zlib from 'node:zlib';
import fc from 'fast-check';
import { sql } from 'kysely';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

// Seeded and replayable: a failure prints fast-check's seed and path; JITBROKER_FUZZ_SEED=<seed> reruns that run.
const seed = Number(process.env.JITBROKER_FUZZ_SEED ?? 17_0006);
const runs = Number(process.env.JITBROKER_FUZZ_RUNS ?? 60);

interface Route {
  method: string;
  template: string;
}

interface Attempt {
  method: string;
  path: string;
  who: 'admin' | 'alice' | 'auditor' | 'device';
  headers?: Record<string, string>;
  body?: Buffer;
}

// Tables whose rows must not change. agent_tokens is left out: a valid device token is spent when it
// authenticates, whatever the request then holds, so a replay fails (bad-input.test.ts checks that count).
const tables = ['devices', 'policies', 'grants', 'credential_versions', 'rotation_jobs', 'vault_secrets', 'escalations', 'webhook_deliveries'] as const;

// The audit events a refused request may leave: the refusals themselves, which are how probing is seen.
const refusals = ['auth.failed/denied', 'authorization.failed/denied', 'grant.requested/denied', 'grant.password-revealed/denied'];

// Percent-encodings that do not decode: not hex, cut short, overlong (%C0%AF is '/'), a lone surrogate, past U+10FFFF, a bare continuation byte.
const undecodable = ['%zz', '%', '%2', '%%', '%u0041', '%C0%AF', '%E0%80%AF', '%ED%A0%80', '%F4%90%80%80', '%80', '%c3%28', '%FF%FE'];

// Methods no route is declared with, which express knows (HEAD and OPTIONS it would otherwise answer itself).
const oddMethods = ['HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'PURGE', 'SEARCH', 'REPORT', 'NOTIFY', 'MERGE'];
const declaredMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Every route of the OpenAPI document (the same declarations the router is built from) with malformed
 * URLs, methods no route has, and bodies whose Content-Encoding is corrupt or unknown. "Nothing changed"
 * means: every row of every table above is the same, and the audit log gained only refusal events.
 */
describe(`malformed requests on every route are 4xx problem documents and change nothing (seed ${seed})`, () => {
  let s: Scenario;
  let routes: Route[];
  let concrete: (template: string) => string;
  beforeAll(async () => {
    s = await createScenario();
    // An active grant of alice's, so the grant routes (a reveal above all) are reached as their owner would.
    const grantId = (await requestGrant(s, s.tokens.alice)).id;
    const values: Record<string, string> = { '/v1/devices/{id}': 'laptop-7', '/v1/policies/{id}': s.policyId, '/v1/grants/{id}': grantId, '/v1/agent/credential/{version}': '1' };
    concrete = (template) =>
      template.replace(/^(.*?)\/\{(\w+)\}/, (whole, prefix: string) => `${prefix}/${values[whole] ?? '00000000-0000-4000-8000-000000000000'}`).replace(/\{\w+\}/g, 'x');
    const doc = (await s.h.api.get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(doc.paths).flatMap(([template, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), template })));
  });
  afterAll(async () => {
    await s.h.close();
  });

  const whoFor = (path: string): Attempt['who'] =>
    path.startsWith('/v1/agent') ? 'device' : path.startsWith('/v1/grants') ? 'alice' : path.startsWith('/v1/audit') ? 'auditor' : 'admin';

  async function rows(): Promise<string> {
    const out: unknown[] = [];
    for (const t of tables) out.push((await sql`SELECT * FROM ${sql.table(t)} ORDER BY 1`.execute(s.h.db)).rows);
    return JSON.stringify(out);
  }

  /** Sends one attempt; returns what is wrong with the answer, or nothing. */
  async function check(a: Attempt): Promise<string[]> {
    const before = await rows();
    const head = (await s.h.audit.head()).seq;
    const send = (s.h.api as unknown as Record<string, (path: string) => import('supertest').Test>)[a.method.toLowerCase()];
    if (!send) throw new Error(`supertest has no method ${a.method}`);
    let req = send(a.path);
    const token = a.who === 'device' ? await s.h.agentToken('laptop-7', s.key) : s.tokens[a.who];
    req = req.set(bearer(token));
    for (const [k, v] of Object.entries(a.headers ?? {})) req = req.set(k, v);
    if (a.body) req = req.send(a.body);
    const res = await req;
    const wrong: string[] = [];
    if (res.status < 400 || res.status >= 500) wrong.push(`status ${res.status} (${res.text?.slice(0, 160)})`);
    if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) wrong.push(`content-type ${res.headers['content-type']}`);
    if (a.method !== 'HEAD') {
      const b = res.body as Record<string, unknown>;
      if (b.status !== res.status || typeof b.code !== 'string' || b.type !== `https://jitbroker.dev/problems/${b.code}` || b.requestId !== res.headers['x-request-id'])
        wrong.push(`body ${res.text?.slice(0, 160)}`);
      if (/\n\s+at |node_modules|URIError|Z_[A-Z]+_ERROR|\.ts:\d/.test(res.text ?? '')) wrong.push('internal detail in the body');
    }
    if ((await rows()) !== before) wrong.push('rows changed');
    const added = (await s.h.audit.query({ afterSeq: head, limit: 100 })).items.map((e) => `${e.action}/${e.outcome}`);
    if (added.some((e) => !refusals.includes(e))) wrong.push(`audited ${added.join(', ')}`);
    return wrong.map((w) => `${a.method} ${a.path.slice(0, 100)} ${JSON.stringify(a.headers ?? {})}: ${w}`);
  }

  const route = () => fc.constantFrom(...routes);

  it('covers every route of the OpenAPI document', () => {
    expect(routes.length).toBeGreaterThan(25);
    expect(routes).toEqual(expect.arrayContaining([{ method: 'GET', template: '/v1/grants/{id}/password' }]));
  });

  it('answers a path segment or query that is not valid percent-encoding with 400', async () => {
    const bad = fc.tuple(fc.stringMatching(/^[A-Za-z0-9._-]{0,8}$/), fc.constantFrom(...undecodable), fc.stringMatching(/^[A-Za-z0-9._-]{0,8}$/)).map(([a, b, c]) => a + b + c);
    await fc.assert(
      fc.asyncProperty(route(), bad, fc.constantFrom('', '?limit=%zz', '?%zz=1', '?cursor=%C0%AF'), async (r, segment, query) => {
        const path = concrete(r.template);
        // The segment replaces the first parameter (or is added to a route without one).
        const at = r.template.indexOf('{');
        const broken = at >= 0 ? path.slice(0, at) + segment + path.slice(path.indexOf('/', at) >= 0 ? path.indexOf('/', at) : path.length) : `${path}/${segment}`;
        const body = ['POST', 'PUT', 'PATCH'].includes(r.method) ? Buffer.from('{}') : undefined;
        const wrong = await check({ method: r.method, path: broken + query, who: whoFor(path), ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}) });
        expect(wrong).toEqual([]);
      }),
      { seed, numRuns: runs },
    );
  });

  it('answers a method no route is declared with by 404, HEAD and OPTIONS included', async () => {
    const pairs = routes
      .filter((r) => r.template.startsWith('/v1/'))
      .flatMap((r) =>
        [...oddMethods, ...declaredMethods]
          .filter((m) => !routes.some((other) => other.template === r.template && other.method === m))
          .map((m) => ({ method: m, template: r.template })),
      );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...pairs), async (p) => {
        const path = concrete(p.template);
        expect(await check({ method: p.method, path, who: whoFor(path) })).toEqual([]);
      }),
      { seed, numRuns: runs },
    );
  });

  it('answers a body whose Content-Encoding is corrupt (400) or unknown (415)', async () => {
    const junk = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.concat([Buffer.from([0]), Buffer.from(b)]));
    // A valid body cut short, random bytes, or a well-formed stream of bytes that are not JSON (a leading NUL).
    const payload = fc.oneof(
      junk.map((b) => ({ kind: 'random bytes', bytes: b })),
      fc.constant({ kind: 'a truncated stream', bytes: Buffer.from('{"reason":"r","deviceId":"laptop-7"}') }),
      junk.map((b) => ({ kind: 'not JSON inside', bytes: b })),
    );
    const encoding = fc.constantFrom('gzip', 'deflate', 'GZIP', 'br', 'compress', 'zstd', 'x-gzip', 'gzip, deflate', 'identity, gzip', 'chunked');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes.filter((r) => r.template.startsWith('/v1/'))), encoding, payload, fc.nat({ max: 40 }), async (r, enc, p, cut) => {
        const compress = enc.toLowerCase() === 'deflate' ? zlib.deflateSync : zlib.gzipSync;
        const body =
          p.kind === 'random bytes' ? p.bytes : p.kind === 'a truncated stream' ? compress(p.bytes).subarray(0, Math.min(cut, compress(p.bytes).length - 1)) : compress(p.bytes);
        const path = concrete(r.template);
        const wrong = await check({ method: r.method, path, who: whoFor(path), headers: { 'content-type': 'application/json', 'content-encoding': enc }, body });
        expect(wrong).toEqual([]);
      }),
      { seed, numRuns: runs },
    );
  });

  it('answers a HEAD of a reveal by its grant`s owner with 404: nothing is revealed, audited or marked used', async () => {
    const grant = (await s.h.api.get('/v1/grants?state=active').set(bearer(s.tokens.alice))).body.items[0] as { id: string };
    const head = (await s.h.audit.head()).seq;
    const before = await rows();
    const res = await s.h.api.head(`/v1/grants/${grant.id}/password`).set(bearer(s.tokens.alice));
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await rows()).toBe(before);
    expect((await s.h.audit.query({ afterSeq: head, limit: 10 })).items).toEqual([]);
  });

  it('refuses every grant under a policy stored with a duration past the bound, rather than answering 500', async () => {
    // Saved before durations were bounded: P999999999D days overflow a Date.
    await s.h.db.updateTable('policies').set({ max_duration: 'P999999999D' }).where('id', '=', s.policyId).execute();
    try {
      for (const duration of ['PT1H', 'P366D']) {
        const res = await s.h.api.post('/v1/grants').set(bearer(s.tokens.bob)).send({ deviceId: 'laptop-7', reason: 'printer driver', duration });
        expect({ duration, status: res.status, code: res.body.code }).toEqual({ duration, status: 403, code: 'policy-denied' });
      }
    } finally {
      await s.h.db.updateTable('policies').set({ max_duration: 'PT4H' }).where('id', '=', s.policyId).execute();
    }
  });
});
