import { OpenAPIRegistry, OpenApiGeneratorV31, RouteConfig, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import * as auditApi from '../audit/audit-routes';
import * as agentApi from '../credentials/agent-routes';
import * as deviceApi from '../devices/device-routes';
import * as escalationApi from '../escalations/escalation-routes';
import { allowedNextStatus } from '../escalations/escalation';
import * as grantApi from '../grants/grant-routes';
import { allowedNext, grantStates } from '../grants/grant';
import * as policyApi from '../policies/policy-routes';
import { ProblemCode, problems } from '../problems/problem';

// The generator reads metadata through a method it adds to zod's prototype (schemas already made included).
extendZodWithOpenApi(z);

// What responses look like: documentation of the bodies the services return (requests are validated
// by the very schemas registered below, imported from the routes).
const problem = z.object({
  type: z.string().url(),
  title: z.string(),
  status: z.number().int(),
  code: z.enum(Object.keys(problems) as [ProblemCode, ...ProblemCode[]]),
  detail: z.string(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
const page = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });
const device = z
  .object({
    id: z.string(),
    displayName: z.string(),
    groups: z.array(z.string()),
    account: z.string(),
    agentKey: z.record(z.string()),
    status: z.enum(['active', 'retired']),
    createdAt: z.string(),
    retiredAt: z.string().nullable(),
    credential: z.object({
      currentVersion: z.number().nullable(),
      pendingVersion: z.number().nullable(),
      lastRotatedAt: z.string().nullable(),
      nextRotationDue: z.string().nullable(),
    }),
    rotation: z.object({ failing: z.boolean(), failures: z.number(), lastError: z.string().nullable(), ackOverdue: z.boolean() }).passthrough(),
  })
  .passthrough();
const policy = policyApi.policyBody.extend({ id: z.string().uuid(), createdAt: z.string(), updatedAt: z.string() });
const grantsEnded = z.number().describe('Open grants the change ended: those no enabled policy allows any more.');
// The grant state machine's table names the states: the enum cannot drift from what the code allows.
const grant = z
  .object({ id: z.string().uuid(), state: z.enum(grantStates), deviceId: z.string(), requester: z.string(), duration: z.string(), expiresAt: z.string().nullable() })
  .passthrough()
  .describe(
    `States move ${Object.entries(allowedNext)
      .map(([from, to]) => `${from} → ${to.join(' | ') || '(final)'}`)
      .join('; ')}.`,
  );
const reveal = z.object({
  deviceId: z.string(),
  account: z.string(),
  password: z.string(),
  version: z.number(),
  expiresAt: z.string(),
  unconfirmed: z.boolean().optional(),
  possiblyInEffect: z.object({ version: z.number(), password: z.string(), fetchedAt: z.string() }).optional(),
  changedSinceLastReveal: z
    .object({ previousVersion: z.number() })
    .optional()
    .describe('The password changed since it was last shown under this grant (the device rotated after another grant that revealed it ended).'),
});
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
const escalation = z
  .object({
    id: z.string().uuid(),
    status: z.enum(Object.keys(allowedNextStatus) as [string, ...string[]]),
    severity: z.literal('C'),
    category: z.string(),
    routedTo: z.string(),
    routedToName: z.string(),
  })
  .passthrough();
const verifyResult = z.object({
  ok: z.boolean(),
  events: z.number(),
  headHash: z.string(),
  checkpoints: z.number().optional().openapi({ description: 'Signed checkpoints whose signature was checked.' }),
  signedThroughSeq: z.number().optional().openapi({ description: 'The last event a checked checkpoint signature vouches for; 0 when none is.' }),
  unsignedEvents: z.number().optional().openapi({ description: 'Checked events after signedThroughSeq, which no signature vouches for yet.' }),
  firstBadSeq: z.number().optional(),
  problem: z.string().optional(),
});
const checkpoint = z.object({ seq: z.number(), hash: z.string(), signature: z.string(), keyId: z.string(), at: z.string() });

const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });
const problemResponse = (code: ProblemCode) => ({ description: problems[code].title, content: { 'application/problem+json': { schema: problem } } });

/** The problems any authenticated route may answer, plus the ones a route adds. */
function errors(...codes: ProblemCode[]): RouteConfig['responses'] {
  const all = new Set<ProblemCode>(['invalid-request', 'unauthenticated', 'forbidden', 'rate-limited', 'unavailable', 'internal', ...codes]);
  return Object.fromEntries([...all].map((c) => [String(problems[c].status === 403 && c === 'policy-denied' ? 403 : problems[c].status), problemResponse(c)]));
}

type Method = RouteConfig['method'];

/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas the routes validate with, so
 * the contract and the code cannot drift; a test checks that every mounted route is in it.
 */
export function buildOpenApi(): object {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A token from the identity provider (local mode: jitbroker token).',
  });
  const deviceBearer = registry.registerComponent('securitySchemes', 'deviceKey', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An ES256 JWT the device agent signs with its enrolled key: iss = sub = the device id, aud = agent.audience, exp − iat ≤ 300 s, a unique jti.',
  });
  const route = (method: Method, path: string, summary: string, request: RouteConfig['request'], ok: RouteConfig['responses'], more: ProblemCode[] = [], security = bearer.name) =>
    registry.registerPath({ method, path, summary, request, security: [{ [security]: [] }], responses: { ...ok, ...errors(...more) } });
  const body = (schema: z.ZodTypeAny) => ({ body: { content: { 'application/json': { schema } } } });

  registry.registerPath({ method: 'get', path: '/healthz', summary: 'The process is up', responses: { 200: json(z.object({ status: z.literal('ok') }), 'Up') } });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    summary: 'The store and the vault are usable',
    responses: { 200: json(z.object({ status: z.literal('ready') }), 'Ready'), 503: problemResponse('unavailable') },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
  });
  registry.registerPath({ method: 'get', path: '/openapi.json', summary: 'This document', responses: { 200: json(z.object({}).passthrough(), 'OpenAPI 3.1') } });

  route('post', '/v1/devices', 'Enrol a device; its initial password waits for the agent (admin)', body(deviceApi.enrolDeviceBody), { 201: json(device, 'Enrolled') }, [
    'conflict',
    'payload-too-large',
    'unsupported-media-type',
  ]);
  route('get', '/v1/devices', 'List devices', { query: deviceApi.listQuery }, { 200: json(page(device), 'A page of devices') });
  route('get', '/v1/devices/{id}', 'A device and its credential state, never a secret', { params: deviceApi.deviceParams }, { 200: json(device, 'The device') }, ['not-found']);
  route('post', '/v1/devices/{id}/rotate', 'Force a rotation (admin)', { params: deviceApi.deviceParams }, { 202: json(z.object({ jobId: z.string() }), 'Queued') }, [
    'not-found',
    'conflict',
  ]);
  route(
    'delete',
    '/v1/devices/{id}',
    'Retire a device (admin); refused (409) while it holds a password a requester was shown, unless force=true',
    { params: deviceApi.deviceParams, query: deviceApi.retireQuery },
    { 200: json(device, 'Retired') },
    ['not-found', 'conflict'],
  );

  route('post', '/v1/policies', 'Designate who may elevate where (admin)', body(policyApi.policyBody), { 201: json(policy, 'Created') }, [
    'conflict',
    'payload-too-large',
    'unsupported-media-type',
  ]);
  route('get', '/v1/policies', 'List policies', { query: policyApi.listQuery }, { 200: json(page(policy), 'A page of policies') });
  route('get', '/v1/policies/{id}', 'A policy', { params: policyApi.policyParams }, { 200: json(policy, 'The policy') }, ['not-found']);
  route(
    'put',
    '/v1/policies/{id}',
    'Replace a policy (admin)',
    { params: policyApi.policyParams, ...body(policyApi.policyBody) },
    { 200: json(policy.extend({ grantsEnded }), 'Replaced') },
    ['not-found', 'conflict'],
  );
  route('delete', '/v1/policies/{id}', 'Delete a policy (admin)', { params: policyApi.policyParams }, { 200: json(z.object({ id: z.string().uuid(), grantsEnded }), 'Deleted') }, [
    'not-found',
  ]);

  route('post', '/v1/grants', 'Ask for elevation on a device (requester)', body(grantApi.requestGrantBody), { 201: json(grant, 'Active, or pending approval') }, [
    'policy-denied',
    'not-found',
    'conflict',
  ]);
  route('get', '/v1/grants', 'List grants (your own, or all for approvers, admins, auditors)', { query: grantApi.listQuery }, { 200: json(page(grant), 'A page of grants') });
  route('get', '/v1/grants/{id}', 'A grant, never a password', { params: grantApi.grantParams }, { 200: json(grant, 'The grant') }, ['not-found']);
  route(
    'post',
    '/v1/grants/{id}/approve',
    'Approve (an approver other than the requester)',
    { params: grantApi.grantParams, ...body(grantApi.approveBody) },
    { 200: json(grant, 'Active') },
    ['not-found', 'conflict', 'policy-denied'],
  );
  route('post', '/v1/grants/{id}/deny', 'Deny (approver)', { params: grantApi.grantParams, ...body(grantApi.denyBody) }, { 200: json(grant, 'Denied') }, ['not-found', 'conflict']);
  route(
    'post',
    '/v1/grants/{id}/revoke',
    'End a grant (its requester or an admin)',
    { params: grantApi.grantParams, ...body(grantApi.revokeBody) },
    { 200: json(grant, 'Revoked') },
    ['not-found', 'conflict'],
  );
  route(
    'get',
    '/v1/grants/{id}/password',
    "The device's password, to the grant's requester while the grant is live; audited before it is sent (Cache-Control: no-store)",
    { params: grantApi.grantParams },
    { 200: json(reveal, 'The password') },
    ['not-found', 'conflict', 'no-current-password', 'policy-denied'],
  );

  route(
    'get',
    '/v1/agent/credential',
    'The pending password the device must set',
    {},
    { 200: json(z.object({ version: z.number(), account: z.string(), password: z.string() }), 'Set this'), 204: { description: 'Nothing to do' } },
    [],
    deviceBearer.name,
  );
  route(
    'post',
    '/v1/agent/credential/{version}/ack',
    'The device set (or failed to set) a version',
    { params: agentApi.ackParams, ...body(agentApi.ackBody) },
    { 204: { description: 'Recorded' } },
    ['not-found', 'conflict'],
    deviceBearer.name,
  );

  route('get', '/v1/audit/events', 'Audit events, oldest first (auditor)', { query: auditApi.eventsQuery }, { 200: json(page(auditEvent), 'A page of events') });
  route('get', '/v1/audit/verify', 'Walk the hash chain (auditor)', { query: auditApi.verifyQuery }, { 200: json(verifyResult, 'The result') });
  route(
    'get',
    '/v1/audit/export',
    'Stream the log with each event as hashed and its hash (auditor)',
    { query: auditApi.exportQuery },
    { 200: { description: 'JSONL or CSV', content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } } } },
  );
  route(
    'get',
    '/v1/audit/checkpoint-key',
    'The public key that signs checkpoints (auditor)',
    {},
    { 200: json(z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string() }).passthrough(), 'A public JWK') },
  );
  route('post', '/v1/audit/checkpoints', 'Sign a checkpoint of the chain head now (auditor)', {}, { 201: json(checkpoint, 'Signed and appended') });
  route('get', '/v1/audit/checkpoints/latest', 'The last checkpoint (auditor)', {}, { 200: json(checkpoint, 'The checkpoint') }, ['not-found']);

  route('post', '/v1/escalations', 'File a severity C escalation, routed by category', body(escalationApi.fileBody), { 201: json(escalation, 'Filed and routed') }, [
    'severity-not-accepted',
  ]);
  route('get', '/v1/escalations', 'Your escalations (all, for an admin)', { query: escalationApi.listQuery }, { 200: json(page(escalation), 'A page of escalations') });
  route('get', '/v1/escalations/{id}', 'An escalation', { params: escalationApi.params }, { 200: json(escalation, 'The escalation') }, ['not-found']);
  route(
    'patch',
    '/v1/escalations/{id}',
    'Move an escalation along (admin)',
    { params: escalationApi.params, ...body(escalationApi.statusBody) },
    { 200: json(escalation, 'Updated') },
    ['not-found', 'conflict'],
  );

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'jitbroker', version: '1', description: 'Just-in-time elevation credential broker. Errors are RFC 9457 problem documents with a stable code.' },
    servers: [{ url: '/' }],
  });
}
