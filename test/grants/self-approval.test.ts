import crypto from 'node:crypto';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';
import { seedLaptop7 } from '../support/scenario';
import { expectAudited } from '../support/expect-audited';

/**
 * Issue 17, item 4: with several allowed tenants a person has another object id in each (a B2B guest),
 * so comparing `oid` alone lets a requester approve their own request from their guest account. The
 * approver's sign-in names are compared too, the guest form `alice_contoso.example#EXT#@…` read back as
 * the home name. Entra ID tokens from a local issuer, through the real HTTP app.
 */
const roleMap = { 'Broker.Admin': 'admin', 'Support.Elevate': 'requester', 'Broker.Approve': 'approver' };
const helpdesk = crypto.randomUUID();
const home = crypto.randomUUID();
const partner = crypto.randomUUID();

describe('self-approval across allowed tenants', () => {
  let h: TestApp;
  let entra: FakeEntra;
  const app: { h?: TestApp } = {};
  /** A token of the partner tenant (its own issuer), where Alice is a guest with another oid. */
  const inPartner = (claims: Record<string, unknown>) => entra.mint({ tid: partner, iss: `${entra.base}/${partner}/v2.0`, roles: ['Broker.Approve'], ...claims });

  beforeAll(async () => {
    entra = await startFakeEntra({ tenantId: home, clock: { now: () => app.h?.clock.now() ?? new Date() } });
    h = app.h = await createTestApp({
      JITBROKER_IDENTITY_MODE: 'oidc',
      JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
      JITBROKER_IDENTITY_OIDC_TENANT_ID: home,
      JITBROKER_IDENTITY_OIDC_ALLOWED_TENANTS: `${home},${partner}`,
      JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
      JITBROKER_IDENTITY_OIDC_ROLE_MAP: JSON.stringify(roleMap),
    });
    const admin = await entra.mint({ oid: crypto.randomUUID(), name: 'Ada Admin', roles: ['Broker.Admin'] });
    await seedLaptop7(h, admin, helpdesk, { requireApproval: true });
  });
  afterAll(async () => {
    await h.close();
    await entra.stop();
  });

  async function pendingRequestOfAlice(): Promise<string> {
    const alice = await entra.mint({
      oid: crypto.randomUUID(),
      name: 'Alice Example',
      preferred_username: 'Alice@Contoso.example',
      roles: ['Support.Elevate'],
      groups: [helpdesk],
    });
    const res = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'laptop-7', reason: 'printer driver', duration: 'PT1H' });
    expect(res.status).toBe(201);
    expect(res.body.state).toBe('pending');
    return res.body.id as string;
  }

  it.each([
    ['her guest UPN (#EXT#) alone', { upn: 'alice_contoso.example#EXT#@fabrikam.onmicrosoft.example', preferred_username: undefined }],
    ['her e-mail alone', { email: 'alice@contoso.example', preferred_username: undefined }],
    ['her home sign-in name', { preferred_username: 'alice@contoso.example' }],
  ])('Alice cannot approve her own request from her guest account in another tenant, named by %s', async (_how, names) => {
    const id = await pendingRequestOfAlice();
    const guest = await inPartner({ oid: crypto.randomUUID(), name: 'Alice (guest)', ...names });
    const res = await h.api.post(`/v1/grants/${id}/approve`).set(bearer(guest)).send({});
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'forbidden', detail: 'A grant must be decided by another person than its requester.' });
    expect((await h.api.get(`/v1/grants/${id}`).set(bearer(guest))).body.state).toBe('pending');
    await expectAudited(h, res, { action: 'authorization.failed', outcome: 'denied' });
  });

  it('another person in the other tenant approves it', async () => {
    const id = await pendingRequestOfAlice();
    const carol = await inPartner({ oid: crypto.randomUUID(), name: 'Carol', preferred_username: 'carol@fabrikam.example' });
    const res = await h.api.post(`/v1/grants/${id}/approve`).set(bearer(carol)).send({});
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('active');
  });
});
