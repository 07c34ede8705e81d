import { DeviceKeyPair, TestApp, admin, createTestApp } from './test-app';
import { bearer } from './bearer';

export interface Scenario {
  h: TestApp;
  key: DeviceKeyPair;
  tokens: { admin: string; alice: string; bob: string; approver: string; auditor: string };
  password: string;
  policyId: string;
}

/**
 * The common world: laptop-7 in finance-laptops with an acknowledged password, a policy that
 * designates the helpdesk group for it (PT4H), alice and bob in helpdesk, an approver, an auditor.
 */
export async function createScenario(policy: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<Scenario> {
  const h = await createTestApp(env);
  const tokens = {
    admin: await h.token(admin.sub, admin.roles),
    alice: await h.token('alice', ['requester'], ['helpdesk'], { name: 'Alice' }),
    bob: await h.token('bob', ['requester'], ['helpdesk']),
    approver: await h.token('carol', ['approver']),
    auditor: await h.token('dave', ['auditor']),
  };
  return { h, tokens, ...(await seedLaptop7(h, tokens.admin, 'helpdesk', policy)) };
}

/**
 * The scenario's device and policy, made through the API as `adminToken` whatever the identity mode
 * (a local token, or one the fake Entra minted): laptop-7 in finance-laptops with a password its
 * agent acknowledged, and a policy designating `group` for it (PT4H).
 */
export async function seedLaptop7(
  h: TestApp,
  adminToken: string,
  group: string,
  policy: Record<string, unknown> = {},
): Promise<{ key: DeviceKeyPair; password: string; policyId: string }> {
  const key = await h.deviceKey();
  await h.api
    .post('/v1/devices')
    .set(bearer(adminToken))
    .send({ id: 'laptop-7', groups: ['finance-laptops'], agentKey: key.publicJwk })
    .expect(201);
  const { password } = await h.ackPending('laptop-7', key);
  const res = await h.api
    .post('/v1/policies')
    .set(bearer(adminToken))
    .send({ name: 'helpdesk-finance', principals: { groups: [group] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', ...policy });
  if (res.status !== 201) throw new Error(`policy: ${res.status} ${res.text}`);
  return { key, password, policyId: (res.body as { id: string }).id };
}

/** Asks for a grant and returns its id, failing loudly on anything but 201. */
export async function requestGrant(s: Scenario, token: string, body: Record<string, unknown> = {}): Promise<{ id: string; state: string; expiresAt?: string }> {
  const res = await s.h.api
    .post('/v1/grants')
    .set(bearer(token))
    .send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H', ...body });
  if (res.status !== 201) throw new Error(`grant: ${res.status} ${res.text}`);
  return res.body as { id: string; state: string; expiresAt?: string };
}
