import zlib from 'node:zlib';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

type Who = 'admin' | 'alice' | 'bob' | 'approver' | 'auditor' | 'device';

interface Case {
  name: string;
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  who?: Who;
  /** An object is sent as JSON; a string or bytes are sent raw with `contentType`. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  authorization?: string | null;
  status: number;
  code: string;
}

const big = 'x'.repeat(5000);
const huge = 'y'.repeat(70 * 1024);
const validPolicy = { name: 'p2', principals: { groups: ['g'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT1H' };
const validDevice = (s: Scenario) => ({ id: 'laptop-9', groups: ['finance-laptops'], agentKey: s.key.publicJwk });

/** Each route with each kind of bad input: malformed, wrong types, missing, extra, huge, bad ids, bad tokens. */
function cases(s: Scenario, grantId: string): Case[] {
  const body = (path: string, method: Case['method'], who: Who, valid: Record<string, unknown>): Case[] => [
    { name: 'malformed JSON', method, path, who, body: '{"a":', contentType: 'application/json', status: 400, code: 'invalid-request' },
    { name: 'an array body', method, path, who, body: '[]', contentType: 'application/json', status: 400, code: 'invalid-request' },
    { name: 'a number body', method, path, who, body: '42', contentType: 'application/json', status: 400, code: 'invalid-request' },
    { name: 'a string body', method, path, who, body: '"x"', contentType: 'application/json', status: 400, code: 'invalid-request' },
    { name: 'a text/plain body', method, path, who, body: JSON.stringify(valid), contentType: 'text/plain', status: 415, code: 'unsupported-media-type' },
    { name: 'a form body', method, path, who, body: 'a=b', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported-media-type' },
    { name: 'a body over 64 KiB', method, path, who, body: { ...valid, pad: huge }, status: 413, code: 'payload-too-large' },
    { name: 'an unknown field', method, path, who, body: { ...valid, extra: 1 }, status: 400, code: 'invalid-request' },
    {
      name: 'a prototype-pollution field',
      method,
      path,
      who,
      body: `{"__proto__":{"admin":true},${JSON.stringify(valid).slice(1)}`,
      contentType: 'application/json',
      status: 400,
      code: 'invalid-request',
    },
  ];
  const token = (method: Case['method'], path: string, extra: Partial<Case> = {}): Case[] => [
    { name: 'no token', method, path, authorization: null, status: 401, code: 'unauthenticated', ...extra },
    { name: 'a token without the Bearer scheme', method, path, authorization: s.tokens.alice, status: 401, code: 'unauthenticated', ...extra },
    { name: 'a Basic credential', method, path, authorization: 'Basic YWRtaW46YWRtaW4=', status: 401, code: 'unauthenticated', ...extra },
    { name: 'a garbage token', method, path, authorization: 'Bearer not.a.jwt', status: 401, code: 'unauthenticated', ...extra },
    { name: 'a tampered token', method, path, authorization: `Bearer ${tamper(s.tokens.admin)}`, status: 401, code: 'unauthenticated', ...extra },
    { name: 'an unsigned token', method, path, authorization: `Bearer ${unsigned()}`, status: 401, code: 'unauthenticated', ...extra },
  ];
  const d = validDevice(s);
  const grantBody = { deviceId: 'laptop-7', reason: 'r', duration: 'PT1H' };
  return [
    // devices
    ...body('/v1/devices', 'post', 'admin', d),
    ...token('post', '/v1/devices', { body: d }),
    { name: 'missing agentKey', method: 'post', path: '/v1/devices', who: 'admin', body: { id: 'x1', groups: ['g'] }, status: 400, code: 'invalid-request' },
    { name: 'groups as a string', method: 'post', path: '/v1/devices', who: 'admin', body: { ...d, groups: 'g' }, status: 400, code: 'invalid-request' },
    { name: 'no groups', method: 'post', path: '/v1/devices', who: 'admin', body: { ...d, groups: [] }, status: 400, code: 'invalid-request' },
    { name: 'a bad device id', method: 'post', path: '/v1/devices', who: 'admin', body: { ...d, id: '../etc/passwd' }, status: 400, code: 'invalid-request' },
    { name: 'a huge device id', method: 'post', path: '/v1/devices', who: 'admin', body: { ...d, id: big }, status: 400, code: 'invalid-request' },
    {
      name: 'a private agent key',
      method: 'post',
      path: '/v1/devices',
      who: 'admin',
      body: { ...d, agentKey: { ...s.key.publicJwk, d: 'AAAA' } },
      status: 400,
      code: 'invalid-request',
    },
    {
      name: 'an RSA agent key',
      method: 'post',
      path: '/v1/devices',
      who: 'admin',
      body: { ...d, agentKey: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } },
      status: 400,
      code: 'invalid-request',
    },
    {
      name: 'an agent key off the curve',
      method: 'post',
      path: '/v1/devices',
      who: 'admin',
      body: { ...d, agentKey: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'B'.repeat(43) } },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'an already enrolled id', method: 'post', path: '/v1/devices', who: 'admin', body: { ...d, id: 'laptop-7' }, status: 409, code: 'conflict' },
    { name: 'enrol as a requester', method: 'post', path: '/v1/devices', who: 'alice', body: d, status: 403, code: 'forbidden' },
    { name: 'limit 0', method: 'get', path: '/v1/devices?limit=0', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'limit 501', method: 'get', path: '/v1/devices?limit=501', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'limit abc', method: 'get', path: '/v1/devices?limit=abc', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'a forged cursor', method: 'get', path: '/v1/devices?cursor=Zm9v', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'an unknown query parameter', method: 'get', path: '/v1/devices?colour=red', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'a repeated query parameter', method: 'get', path: '/v1/devices?status=active&status=retired', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'a bad status filter', method: 'get', path: '/v1/devices?status=zombie', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'an unknown device', method: 'get', path: '/v1/devices/laptop-404', who: 'admin', status: 404, code: 'not-found' },
    { name: 'a device id cut mid-escape', method: 'delete', path: '/v1/devices/laptop-7%', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'a bad device id in the path', method: 'get', path: `/v1/devices/${encodeURIComponent('a b')}`, who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'rotate an unknown device', method: 'post', path: '/v1/devices/laptop-404/rotate', who: 'admin', status: 404, code: 'not-found' },
    { name: 'rotate with a body', method: 'post', path: '/v1/devices/laptop-7/rotate', who: 'admin', body: { now: true }, status: 400, code: 'invalid-request' },
    { name: 'retire as an auditor', method: 'delete', path: '/v1/devices/laptop-7', who: 'auditor', status: 403, code: 'forbidden' },
    ...token('get', '/v1/devices/laptop-7'),
    // policies
    ...body('/v1/policies', 'post', 'admin', validPolicy),
    {
      name: 'an uncompilable ticketPattern',
      method: 'post',
      path: '/v1/policies',
      who: 'admin',
      body: { ...validPolicy, ticketPattern: '([a-z' },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'maxDuration P', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: 'P' }, status: 400, code: 'invalid-request' },
    { name: 'maxDuration PT', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: 'PT' }, status: 400, code: 'invalid-request' },
    { name: 'maxDuration PT0S', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: 'PT0S' }, status: 400, code: 'invalid-request' },
    { name: 'maxDuration -PT1H', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: '-PT1H' }, status: 400, code: 'invalid-request' },
    { name: 'maxDuration in months', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: 'P1M' }, status: 400, code: 'invalid-request' },
    // Past 366 days: P999999999D overflowed the Date of a grant's expiry (a 500).
    {
      name: 'maxDuration P999999999D',
      method: 'post',
      path: '/v1/policies',
      who: 'admin',
      body: { ...validPolicy, maxDuration: 'P999999999D' },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'maxDuration P367D', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, maxDuration: 'P367D' }, status: 400, code: 'invalid-request' },
    {
      name: 'maxDuration of 400 digits',
      method: 'post',
      path: '/v1/policies',
      who: 'admin',
      body: { ...validPolicy, maxDuration: `PT${'9'.repeat(400)}S` },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'nobody designated', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, principals: {} }, status: 400, code: 'invalid-request' },
    {
      name: 'an unknown role designated',
      method: 'post',
      path: '/v1/policies',
      who: 'admin',
      body: { ...validPolicy, principals: { roles: ['root'] } },
      status: 400,
      code: 'invalid-request',
    },
    {
      name: 'requireApproval as a string',
      method: 'post',
      path: '/v1/policies',
      who: 'admin',
      body: { ...validPolicy, requireApproval: 'yes' },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'a duplicate policy name', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, name: 'helpdesk-finance' }, status: 409, code: 'conflict' },
    { name: 'a huge name', method: 'post', path: '/v1/policies', who: 'admin', body: { ...validPolicy, name: big }, status: 400, code: 'invalid-request' },
    { name: 'a policy id that is not a uuid', method: 'get', path: '/v1/policies/123', who: 'admin', status: 400, code: 'invalid-request' },
    { name: 'an unknown policy', method: 'get', path: '/v1/policies/00000000-0000-4000-8000-000000000000', who: 'admin', status: 404, code: 'not-found' },
    {
      name: 'replace an unknown policy',
      method: 'put',
      path: '/v1/policies/00000000-0000-4000-8000-000000000000',
      who: 'admin',
      body: validPolicy,
      status: 404,
      code: 'not-found',
    },
    { name: 'replace with a partial body', method: 'put', path: `/v1/policies/${s.policyId}`, who: 'admin', body: { name: 'x' }, status: 400, code: 'invalid-request' },
    { name: 'delete as a requester', method: 'delete', path: `/v1/policies/${s.policyId}`, who: 'alice', status: 403, code: 'forbidden' },
    ...token('post', '/v1/policies', { body: validPolicy }),
    // grants
    ...body('/v1/grants', 'post', 'alice', grantBody),
    { name: 'missing reason', method: 'post', path: '/v1/grants', who: 'alice', body: { deviceId: 'laptop-7', duration: 'PT1H' }, status: 400, code: 'invalid-request' },
    { name: 'an empty reason', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, reason: '   ' }, status: 400, code: 'invalid-request' },
    { name: 'a huge reason', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, reason: big }, status: 400, code: 'invalid-request' },
    { name: 'duration as minutes', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, duration: 60 }, status: 400, code: 'invalid-request' },
    { name: 'duration PT0S', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, duration: 'PT0S' }, status: 400, code: 'invalid-request' },
    { name: 'duration -PT1H', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, duration: '-PT1H' }, status: 400, code: 'invalid-request' },
    { name: 'duration P999999999D', method: 'post', path: '/v1/grants', who: 'bob', body: { ...grantBody, duration: 'P999999999D' }, status: 400, code: 'invalid-request' },
    { name: 'a grant id that is not percent-encoding', method: 'get', path: '/v1/grants/%zz', who: 'alice', status: 400, code: 'invalid-request' },
    { name: 'an overlong UTF-8 grant id', method: 'get', path: '/v1/grants/%C0%AF/password', who: 'alice', status: 400, code: 'invalid-request' },
    {
      name: 'a corrupt gzip body',
      method: 'post',
      path: '/v1/grants',
      who: 'bob',
      body: zlib.gzipSync(JSON.stringify(grantBody)).subarray(0, 12),
      headers: { 'content-encoding': 'gzip' },
      status: 400,
      code: 'invalid-request',
    },
    {
      name: 'a deflate header on a plain body',
      method: 'post',
      path: '/v1/grants',
      who: 'bob',
      body: JSON.stringify(grantBody),
      headers: { 'content-encoding': 'deflate' },
      status: 400,
      code: 'invalid-request',
    },
    {
      name: 'a brotli body',
      method: 'post',
      path: '/v1/grants',
      who: 'bob',
      body: zlib.brotliCompressSync(JSON.stringify(grantBody)),
      headers: { 'content-encoding': 'br' },
      status: 415,
      code: 'unsupported-media-type',
    },
    { name: 'duration over the policy', method: 'post', path: '/v1/grants', who: 'bob', body: { ...grantBody, duration: 'P1D' }, status: 403, code: 'policy-denied' },
    { name: 'deviceId null', method: 'post', path: '/v1/grants', who: 'alice', body: { ...grantBody, deviceId: null }, status: 400, code: 'invalid-request' },
    { name: 'a second open grant', method: 'post', path: '/v1/grants', who: 'alice', body: grantBody, status: 409, code: 'conflict' },
    { name: 'a state filter that is no state', method: 'get', path: '/v1/grants?state=happy', who: 'alice', status: 400, code: 'invalid-request' },
    { name: 'a grant id that is not a uuid', method: 'get', path: '/v1/grants/1%27%20OR%201=1', who: 'alice', status: 400, code: 'invalid-request' },
    { name: 'an unknown grant', method: 'get', path: '/v1/grants/00000000-0000-4000-8000-000000000000', who: 'alice', status: 404, code: 'not-found' },
    {
      name: 'approve with an array body',
      method: 'post',
      path: `/v1/grants/${grantId}/approve`,
      who: 'approver',
      body: '[]',
      contentType: 'application/json',
      status: 400,
      code: 'invalid-request',
    },
    { name: 'approve with an unknown field', method: 'post', path: `/v1/grants/${grantId}/approve`, who: 'approver', body: { force: true }, status: 400, code: 'invalid-request' },
    { name: 'approve an active grant', method: 'post', path: `/v1/grants/${grantId}/approve`, who: 'approver', body: {}, status: 409, code: 'conflict' },
    { name: 'deny without a reason', method: 'post', path: `/v1/grants/${grantId}/deny`, who: 'approver', body: {}, status: 400, code: 'invalid-request' },
    {
      name: 'revoke with a number body',
      method: 'post',
      path: `/v1/grants/${grantId}/revoke`,
      who: 'alice',
      body: '42',
      contentType: 'application/json',
      status: 400,
      code: 'invalid-request',
    },
    { name: 'revoke with a numeric reason', method: 'post', path: `/v1/grants/${grantId}/revoke`, who: 'alice', body: { reason: 7 }, status: 400, code: 'invalid-request' },
    {
      name: 'reveal with a query token',
      method: 'get',
      path: `/v1/grants/${grantId}/password?access_token=${s.tokens.alice}`,
      authorization: null,
      status: 401,
      code: 'unauthenticated',
    },
    { name: 'reveal an unknown grant', method: 'get', path: '/v1/grants/00000000-0000-4000-8000-000000000000/password', who: 'alice', status: 404, code: 'not-found' },
    ...token('get', `/v1/grants/${grantId}/password`),
    // agent
    { name: 'agent fetch with a user token', method: 'get', path: '/v1/agent/credential', who: 'admin', status: 401, code: 'unauthenticated' },
    ...token('get', '/v1/agent/credential'),
    {
      name: 'ack a version that is not a number',
      method: 'post',
      path: '/v1/agent/credential/abc/ack',
      who: 'device',
      body: { result: 'set' },
      status: 400,
      code: 'invalid-request',
    },
    { name: 'ack a version that does not exist', method: 'post', path: '/v1/agent/credential/99/ack', who: 'device', body: { result: 'set' }, status: 404, code: 'not-found' },
    { name: 'ack with an unknown result', method: 'post', path: '/v1/agent/credential/1/ack', who: 'device', body: { result: 'maybe' }, status: 400, code: 'invalid-request' },
    { name: 'ack the current version as failed', method: 'post', path: '/v1/agent/credential/1/ack', who: 'device', body: { result: 'failed' }, status: 409, code: 'conflict' },
    {
      name: 'ack with a huge error',
      method: 'post',
      path: '/v1/agent/credential/1/ack',
      who: 'device',
      body: { result: 'failed', error: big },
      status: 400,
      code: 'invalid-request',
    },
    ...body('/v1/agent/credential/1/ack', 'post', 'device', { result: 'set' }),
    // audit
    { name: 'events as a requester', method: 'get', path: '/v1/audit/events', who: 'alice', status: 403, code: 'forbidden' },
    { name: 'events with a bad time', method: 'get', path: '/v1/audit/events?from=yesterday', who: 'auditor', status: 400, code: 'invalid-request' },
    { name: 'events with a bad outcome', method: 'get', path: '/v1/audit/events?outcome=meh', who: 'auditor', status: 400, code: 'invalid-request' },
    { name: 'events with a forged cursor', method: 'get', path: '/v1/audit/events?cursor=WyJ4Il0', who: 'auditor', status: 400, code: 'invalid-request' },
    { name: 'verify with a bad anchor', method: 'get', path: '/v1/audit/verify?anchor=12', who: 'auditor', status: 400, code: 'invalid-request' },
    { name: 'verify with an unknown parameter', method: 'get', path: '/v1/audit/verify?fast=1', who: 'auditor', status: 400, code: 'invalid-request' },
    ...token('get', '/v1/audit/events'),
    // everything else
    { name: 'an unknown route', method: 'get', path: '/v2/secrets', status: 404, code: 'not-found' },
    { name: 'an unknown method on a route', method: 'put', path: '/healthz', body: {}, status: 404, code: 'not-found' },
  ];
}

function tamper(jwt: string): string {
  const [h, p, sig] = jwt.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  claims.sub = 'someone-else';
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
}

function unsigned(): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: 'admin-1', roles: ['admin'], iss: 'jitbroker-local', aud: 'jitbroker', iat: now, exp: now + 600 })}.`;
}

describe('bad input gets a clear problem document and changes nothing', () => {
  let s: Scenario;
  let grantId: string;
  let table: Case[];
  beforeAll(async () => {
    s = await createScenario();
    grantId = (await requestGrant(s, s.tokens.alice)).id;
    table = cases(s, grantId);
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('answers every case with its status, a problem document and no trace, and changes nothing but the audited refusals', async () => {
    expect(table.length).toBeGreaterThan(100);
    const failures: string[] = [];
    for (const c of table) {
      const before = await s.h.snapshot();
      const headBefore = (await s.h.audit.head()).seq;
      let req = s.h.api[c.method](c.path);
      const auth =
        c.authorization !== undefined ? c.authorization : c.who === 'device' ? `Bearer ${await s.h.agentToken('laptop-7', s.key)}` : c.who ? `Bearer ${s.tokens[c.who]}` : null;
      if (auth !== null) req = req.set('authorization', auth);
      for (const [k, v] of Object.entries(c.headers ?? {})) req = req.set(k, v);
      if (typeof c.body === 'string' || Buffer.isBuffer(c.body)) req = req.set('content-type', c.contentType ?? 'application/json').send(c.body);
      else if (c.body !== undefined) req = req.send(c.body as object);
      const res = await req;
      const after = await s.h.snapshot();
      const added = (await s.h.audit.query({ afterSeq: headBefore, limit: 100 })).items;
      const problems: string[] = [];
      if (res.status !== c.status) problems.push(`status ${res.status} (${res.text.slice(0, 200)})`);
      if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) problems.push(`content-type ${res.headers['content-type']}`);
      const b = res.body as Record<string, unknown>;
      if (b.code !== c.code || b.status !== res.status || typeof b.detail !== 'string' || b.type !== `https://jitbroker.dev/problems/${c.code}` || typeof b.title !== 'string')
        problems.push(`body ${res.text.slice(0, 200)}`);
      if (b.requestId !== res.headers['x-request-id']) problems.push('requestId missing');
      if (/\n\s+at |stack|node_modules|SqliteError|\.ts:\d/.test(res.text)) problems.push('a trace or internal detail in the body');
      if (c.code === 'invalid-request' && res.status === 400 && !/JSON/.test(String(b.detail)) && !Array.isArray(b.errors)) problems.push('no errors[] for a validation failure');
      const { audit_events: a1, agent_tokens: t1, ...rest1 } = before;
      const { audit_events: a2, agent_tokens: t2, ...rest2 } = after;
      if (JSON.stringify(rest1) !== JSON.stringify(rest2)) problems.push(`state changed: ${JSON.stringify(rest1)} -> ${JSON.stringify(rest2)}`);
      // A valid device token is spent when it authenticates, whatever the body then holds (a replay must fail); a body
      // refused before authentication (not JSON, too large) spends none, and nothing else records one.
      const refusedBeforeAuth = res.status === 413 || res.status === 415 || (res.status === 400 && /JSON/.test(String(b.detail)));
      const spent = c.who === 'device' && c.authorization === undefined && res.status !== 401 && !refusedBeforeAuth ? 1 : 0;
      if (Number(t2) - Number(t1) !== spent) problems.push(`agent tokens recorded: ${Number(t2) - Number(t1)}, expected ${spent}`);
      const audited = added.map((e) => `${e.action}/${e.outcome}`);
      // A reveal of an unknown grant is audited too (how grant ids are probed).
      const allowed = ['auth.failed/denied', 'authorization.failed/denied', 'grant.requested/denied', 'grant.password-revealed/denied'];
      if (audited.some((a) => !allowed.includes(a)) || Number(a2) - Number(a1) !== added.length) problems.push(`audit changed: ${audited.join(', ')}`);
      if (['unauthenticated', 'forbidden', 'policy-denied'].includes(c.code) && added.length !== 1) problems.push(`authorisation failure audited ${added.length} times`);
      if (problems.length > 0) failures.push(`${c.method.toUpperCase()} ${c.path.slice(0, 80)} — ${c.name}: ${problems.join('; ')}`);
    }
    expect(failures).toEqual([]);
  });

  it('lists each bad field by path in errors[]', async () => {
    const res = await s.h.api.post('/v1/policies').set(bearer(s.tokens.admin)).send({ name: '', deviceGroups: 'x', maxDuration: 'PT0S', bogus: 1 });
    expect(res.status).toBe(400);
    const paths = (res.body.errors as Array<{ path: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['body', 'body.deviceGroups', 'body.maxDuration', 'body.name', 'body.principals']));
  });
});
