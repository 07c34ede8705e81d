import crypto from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { DeviceKeyPair, TestApp, admin, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

describe('two-phase credentials through the device agent routes', () => {
  let h: TestApp;
  let key: DeviceKeyPair;
  let adminToken: string;
  beforeEach(async () => {
    h = await createTestApp();
    adminToken = await h.token(admin.sub, admin.roles);
    key = await h.enrolDevice('laptop-7', ['finance-laptops']);
  });
  afterEach(async () => {
    await h.close();
  });
  const device = async () => (await h.api.get('/v1/devices/laptop-7').set(bearer(adminToken))).body;
  const agent = async () => ({ ...bearer(await h.agentToken('laptop-7', key)) });

  it('enrolment leaves a pending version 1 and no current one; reveal answers no-current-password', async () => {
    expect((await device()).credential).toEqual({ currentVersion: null, pendingVersion: 1, lastRotatedAt: null, nextRotationDue: null });
    await h.api
      .post('/v1/policies')
      .set(bearer(adminToken))
      .send({ name: 'p', principals: { groups: ['hd'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT1H' })
      .expect(201);
    const alice = await h.token('alice', ['requester'], ['hd']);
    const g = await h.api.post('/v1/grants').set(bearer(alice)).send({ deviceId: 'laptop-7', reason: 'r', duration: 'PT1H' });
    const res = await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(alice));
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('no-current-password');
    const attempts = await h.audit.query({ action: 'grant.password-revealed', limit: 5 });
    expect(attempts.items.map((e) => [e.outcome, e.target, e.reason])).toEqual([['failure', `grant:${g.body.id}`, expect.stringMatching(/no acknowledged password yet/)]]);
  });

  it('the agent fetches the pending password (no-store, audited), acknowledges it, and it becomes current', async () => {
    const fetched = await h.api.get('/v1/agent/credential').set(await agent());
    expect(fetched.status).toBe(200);
    expect(fetched.headers['cache-control']).toBe('no-store');
    expect(fetched.body).toEqual({ version: 1, account: 'localadmin', password: expect.stringMatching(/^.{20}$/) });
    const ack = await h.api
      .post('/v1/agent/credential/1/ack')
      .set(await agent())
      .send({ result: 'set' });
    expect(ack.status).toBe(204);
    const d = await device();
    expect(d.credential).toMatchObject({ currentVersion: 1, pendingVersion: null, lastRotatedAt: h.clock.now().toISOString() });
    // maxAge (4 h) pulled earlier by up to the 20 % jitter, so a fleet enrolled together spreads out
    const due = Date.parse(d.credential.nextRotationDue) - h.clock.now().getTime();
    expect(due).toBeLessThanOrEqual(4 * 3600 * 1000);
    expect(due).toBeGreaterThanOrEqual(0.8 * 4 * 3600 * 1000);
    expect((await h.api.get('/v1/agent/credential').set(await agent())).status).toBe(204);
    // the agent restarted before it saw our answer: acknowledging again changes nothing
    expect(
      (
        await h.api
          .post('/v1/agent/credential/1/ack')
          .set(await agent())
          .send({ result: 'set' })
      ).status,
    ).toBe(204);
    const actions = (await h.audit.query({ deviceId: 'laptop-7', limit: 20 })).items.map((e) => `${e.action}/${e.actor.kind}`);
    expect(actions).toEqual(['device.enrolled/user', 'credential.fetched/device', 'credential.acknowledged/device']);
  });

  it('a rotation makes version 2 pending; its ack supersedes version 1, which stays in the vault', async () => {
    const v1 = await h.ackPending('laptop-7', key);
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).expect(202);
    await h.rotations.runDueJobs();
    expect((await device()).credential).toMatchObject({ currentVersion: 1, pendingVersion: 2 });
    const v2 = await h.ackPending('laptop-7', key);
    expect(v2.version).toBe(2);
    expect(v2.password).not.toBe(v1.password);
    const rows = await h.db.selectFrom('credential_versions').select(['version', 'state']).orderBy('version').execute();
    expect(rows).toEqual([
      { version: 1, state: 'superseded' },
      { version: 2, state: 'current' },
    ]);
    const old = await h.vault.get({ deviceId: 'laptop-7', version: 1 }, 'local:1');
    expect(old?.expose()).toBe(v1.password);
  });

  it('a failed set is recorded as failed with the agent error, audited as a failure, and nothing becomes current', async () => {
    await h.api
      .get('/v1/agent/credential')
      .set(await agent())
      .expect(200);
    const res = await h.api
      .post('/v1/agent/credential/1/ack')
      .set(await agent())
      .send({ result: 'failed', error: 'Set-LocalUser: access denied' });
    expect(res.status).toBe(204);
    const row = await h.db.selectFrom('credential_versions').selectAll().where('version', '=', 1).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'failed', error: 'Set-LocalUser: access denied' });
    expect((await device()).credential).toMatchObject({ currentVersion: null, pendingVersion: null });
    const failed = await h.audit.query({ outcome: 'failure', limit: 5 });
    expect(failed.items[0]).toMatchObject({ action: 'credential.acknowledged', reason: 'Set-LocalUser: access denied' });
  });

  describe('refuses device tokens that are not exactly right: 401, audited, nothing handed out', () => {
    const cases: Array<[string, (k: DeviceKeyPair) => Promise<string>]> = [
      ['an expired token', (k) => h.agentToken('laptop-7', k, { iat: nowS() - 400, exp: nowS() - 200 })],
      ['a token living longer than 300 s', (k) => h.agentToken('laptop-7', k, { exp: nowS() + 301 })],
      ['a token issued in the future', (k) => h.agentToken('laptop-7', k, { iat: nowS() + 200, exp: nowS() + 260 })],
      [
        'a token naming another device',
        async (k) => {
          await h.enrolDevice('laptop-8', ['finance-laptops']);
          return h.agentToken('laptop-8', k);
        },
      ],
      ['a token whose sub is not its iss', (k) => h.agentToken('laptop-7', k, { sub: 'laptop-8' })],
      ['a token for another audience', (k) => h.agentToken('laptop-7', k, { aud: 'jitbroker' })],
      ['a token signed by another key', async () => h.agentToken('laptop-7', { privateKey: (await generateKeyPair('ES256')).privateKey, publicJwk: { kty: 'EC' } })],
      [
        'an HS256 token',
        async () =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer('laptop-7')
            .setSubject('laptop-7')
            .setAudience('jitbroker-agent')
            .setIssuedAt()
            .setExpirationTime('1m')
            .setJti(crypto.randomUUID())
            .sign(crypto.randomBytes(32)),
      ],
      [
        'a token without jti',
        async (k) =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'ES256' })
            .setIssuer('laptop-7')
            .setSubject('laptop-7')
            .setAudience('jitbroker-agent')
            .setIssuedAt(nowS())
            .setExpirationTime(nowS() + 60)
            .sign(k.privateKey),
      ],
    ];
    const nowS = () => Math.floor(h.clock.now().getTime() / 1000);

    it.each(cases)('%s', async (_name, make) => {
      const token = await make(key);
      const before = (await h.audit.head()).seq;
      const res = await h.api.get('/v1/agent/credential').set(bearer(token));
      expect(res.status).toBe(401);
      expect(res.body.password).toBeUndefined();
      const added = (await h.audit.query({ afterSeq: before, limit: 10 })).items;
      expect(added.map((e) => `${e.action}/${e.outcome}`)).toEqual(['auth.failed/denied']);
      const row = await h.db.selectFrom('credential_versions').select('fetched_at').where('device_id', '=', 'laptop-7').executeTakeFirstOrThrow();
      expect(row.fetched_at).toBeNull();
    });

    it('a replayed token (same jti) is refused the second time', async () => {
      const token = await h.agentToken('laptop-7', key);
      expect((await h.api.get('/v1/agent/credential').set(bearer(token))).status).toBe(200);
      const replay = await h.api.get('/v1/agent/credential').set(bearer(token));
      expect(replay.status).toBe(401);
      expect(replay.body.detail).toMatch(/already used/);
    });

    it('a retired device is refused', async () => {
      await h.api.delete('/v1/devices/laptop-7').set(bearer(adminToken)).expect(200);
      expect((await h.api.get('/v1/agent/credential').set(await agent())).status).toBe(401);
    });
  });
});
