import { agentRoutes } from '../../src/credentials/agent-routes';
import { auditRoutes } from '../../src/audit/audit-routes';
import { deviceRoutes } from '../../src/devices/device-routes';
import { elevationRoutes } from '../../src/elevation/elevation-routes';
import { escalationRoutes } from '../../src/escalations/escalation-routes';
import { grantRoutes } from '../../src/grants/grant-routes';
import { Role, roles } from '../../src/identity/principal';
import { policyRoutes } from '../../src/policies/policy-routes';
import { Route } from '../../src/http/route';
import { Scenario, createScenario, requestGrant } from '../support/scenario';

/**
 * A route's declared roles are documentation (the OpenAPI description): the service decides. This
 * keeps the two from drifting apart in the direction that matters: a person holding none of the
 * declared roles, sending a request that is otherwise valid, is refused 403 `forbidden`.
 */
describe('a route refuses a caller who holds none of the roles it declares', () => {
  let s: Scenario;
  let declared: Route[];
  let grantId: string;
  const bodies: Record<string, () => Promise<unknown>> = {};
  beforeAll(async () => {
    s = await createScenario();
    grantId = (await requestGrant(s, s.tokens.alice)).id;
    declared = [
      agentRoutes(s.h.rotations),
      deviceRoutes(s.h.devices),
      policyRoutes(s.h.policies),
      grantRoutes(s.h.grants),
      elevationRoutes(s.h.elevation),
      escalationRoutes(s.h.escalations),
      auditRoutes(s.h.auditService),
    ].flatMap((g) => [...g.routes]);
    const policy = { name: 'other', principals: { groups: ['helpdesk'] }, deviceGroups: ['other-laptops'], maxDuration: 'PT1H' };
    Object.assign(bodies, {
      'POST /v1/devices': async () => ({ id: 'laptop-9', groups: ['finance-laptops'], agentKey: (await s.h.deviceKey()).publicJwk }),
      'POST /v1/policies': async () => policy,
      'PUT /v1/policies/:id': async () => policy,
      'POST /v1/grants': async () => ({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H' }),
      'POST /v1/grants/:id/deny': async () => ({ reason: 'not now' }),
      'PATCH /v1/escalations/:id': async () => ({ status: 'acknowledged' }),
    });
  });
  afterAll(async () => {
    await s.h.close();
  });

  it('on every route that names its roles', async () => {
    const checked: string[] = [];
    for (const r of declared) {
      if (typeof r.roles === 'string') continue;
      const others = roles.filter((role) => !(r.roles as readonly Role[]).includes(role));
      if (others.length === 0) continue;
      const token = await s.h.token('mallory', others, ['helpdesk']);
      const path = r.path.replace(
        ':id',
        r.path.startsWith('/v1/grants')
          ? grantId
          : r.path.startsWith('/v1/devices')
            ? 'laptop-7'
            : r.path.startsWith('/v1/policies')
              ? s.policyId
              : '00000000-0000-4000-8000-000000000000',
      );
      const key = `${r.method.toUpperCase()} ${r.path}`;
      const send = s.h.api[r.method](path).set('authorization', `Bearer ${token}`);
      const res = ['post', 'put', 'patch'].includes(r.method) ? await send.send((await bodies[key]?.()) ?? {}) : await send;
      expect([key, others, res.status, res.body.code]).toEqual([key, others, 403, 'forbidden']);
      checked.push(key);
    }
    expect(checked.length).toBeGreaterThan(15);
  });
});
