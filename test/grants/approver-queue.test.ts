import crypto from 'node:crypto';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

/**
 * Issue 19, item 3: an approver's queue is `GET /v1/grants?state=pending&decidable=true`: the
 * pending requests they may decide, never their own, whether under the same object id or as the
 * same person signed in from another allowed tenant (the rule approveGrant refuses by). Entra ID
 * tokens from a local issuer, through the real HTTP app.
 */
const roleMap = { 'Support.Elevate': 'requester', 'Broker.Approve': 'approver', 'Broker.Admin': 'admin' };
const helpdesk = crypto.randomUUID();
const home = crypto.randomUUID();
const partner = crypto.randomUUID();

describe("the approver's queue", () => {
  let h: TestApp;
  let entra: FakeEntra;
  const app: { h?: TestApp } = {};
  const ids: Record<string, string> = {};
  const oids = { alice: crypto.randomUUID(), bob: crypto.randomUUID(), dan: crypto.randomUUID(), carol: crypto.randomUUID(), guest: crypto.randomUUID() };
  // Alice both asks and approves; her guest account in the partner tenant is the same person.
  const alice = () => entra.mint({ oid: oids.alice, name: 'Alice', preferred_username: 'alice@contoso.example', roles: ['Support.Elevate', 'Broker.Approve'], groups: [helpdesk] });
  const guest = () =>
    entra.mint({ oid: oids.guest, tid: partner, iss: `${entra.base}/${partner}/v2.0`, upn: 'alice_contoso.example#EXT#@fabrikam.onmicrosoft.example', roles: ['Broker.Approve'] });
  const carol = () => entra.mint({ oid: oids.carol, name: 'Carol', preferred_username: 'carol@contoso.example', roles: ['Broker.Approve'] });
  const requester = (who: 'bob' | 'dan') => entra.mint({ oid: oids[who], preferred_username: `${who}@contoso.example`, roles: ['Support.Elevate'], groups: [helpdesk] });
  const queue = async (token: string, query: Record<string, string> = {}) =>
    h.api
      .get('/v1/grants')
      .query({ state: 'pending', decidable: 'true', ...query })
      .set(bearer(token));
  const names = (res: { body: { items: Array<{ id: string }> } }) => res.body.items.map((g) => Object.keys(ids).find((k) => ids[k] === g.id));

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
    for (const id of ['laptop-7', 'laptop-8']) {
      const key = await h.deviceKey();
      await h.api
        .post('/v1/devices')
        .set(bearer(admin))
        .send({ id, groups: ['finance-laptops'], agentKey: key.publicJwk })
        .expect(201);
      await h.ackPending(id, key);
    }
    await h.api
      .post('/v1/policies')
      .set(bearer(admin))
      .send({ name: 'helpdesk-finance', principals: { groups: [helpdesk] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireApproval: true })
      .expect(201);
    // In this order: two of Alice's own first, then Bob's and Dan's.
    const ask = async (name: string, token: string, deviceId: string) => {
      const res = await h.api.post('/v1/grants').set(bearer(token)).send({ deviceId, reason: 'printer driver', duration: 'PT1H' });
      expect([res.status, res.body.state]).toEqual([201, 'pending']);
      ids[name] = res.body.id as string;
      h.clock.advance(1000);
    };
    await ask('alice-7', await alice(), 'laptop-7');
    await ask('alice-8', await alice(), 'laptop-8');
    await ask('bob-7', await requester('bob'), 'laptop-7');
    await ask('dan-8', await requester('dan'), 'laptop-8');
  });
  afterAll(async () => {
    await h.close();
    await entra.stop();
  });

  it('holds every pending request for an approver who asked for none', async () => {
    const res = await queue(await carol());
    expect(res.status).toBe(200);
    expect(names(res)).toEqual(['alice-7', 'alice-8', 'bob-7', 'dan-8']);
  });

  it('never holds the caller’s own requests, by object id or by sign-in name from another tenant', async () => {
    expect(names(await queue(await alice()))).toEqual(['bob-7', 'dan-8']);
    expect(names(await queue(await guest()))).toEqual(['bob-7', 'dan-8']);
    // Without decidable the same approver sees them all, as before.
    expect(
      names(
        await h.api
          .get('/v1/grants')
          .query({ state: 'pending' })
          .set(bearer(await guest())),
      ),
    ).toEqual(['alice-7', 'alice-8', 'bob-7', 'dan-8']);
  });

  it('pages past the caller’s own requests without losing or repeating one', async () => {
    const token = await guest();
    const first = await queue(token, { limit: '1' });
    expect(names(first)).toEqual(['bob-7']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await queue(token, { limit: '1', cursor: first.body.nextCursor as string });
    expect(names(second)).toEqual(['dan-8']);
    expect(second.body.nextCursor).toBeNull();
  });

  it('loses a request as soon as someone else decides it', async () => {
    await h.api
      .post(`/v1/grants/${ids['bob-7']}/approve`)
      .set(bearer(await carol()))
      .send({})
      .expect(200);
    expect(names(await queue(await alice()))).toEqual(['dan-8']);
    // And the rule the queue shows is the one approval keeps: her own stays refused.
    const own = await h.api
      .post(`/v1/grants/${ids['alice-8']}/approve`)
      .set(bearer(await guest()))
      .send({});
    expect([own.status, own.body.code]).toEqual([403, 'forbidden']);
  });

  it('refuses decidable with another state, a value that is not a boolean, and a caller who is no approver', async () => {
    const active = await queue(await carol(), { state: 'active' });
    expect([active.status, active.body.code, active.body.errors]).toEqual([400, 'invalid-request', [{ path: 'query.state', message: 'must be pending with decidable=true' }]]);
    const maybe = await queue(await carol(), { decidable: 'maybe' });
    expect([maybe.status, maybe.body.code, maybe.body.errors[0].path]).toEqual([400, 'invalid-request', 'query.decidable']);
    const bob = await queue(await requester('bob'));
    expect([bob.status, bob.body.code]).toEqual([403, 'forbidden']);
  });
});
