import { Scenario, createScenario } from '../support/scenario';
import { bearer } from '../support/bearer';

/** One agent key, one device: an enrolment that reuses an enrolled key is refused, however the key is written. */
describe('devices: an agent key enrols one device only', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await createScenario();
  });
  afterAll(async () => {
    await s.h.close();
  });
  const enrol = (body: Record<string, unknown>) =>
    s.h.api
      .post('/v1/devices')
      .set(bearer(s.tokens.admin))
      .send({ groups: ['finance-laptops'], ...body });

  it('refuses (409) a second device with laptop-7’s key, even rewritten with other members and order, and writes nothing', async () => {
    const { kty, crv, x, y } = s.key.publicJwk as { kty: string; crv: string; x: string; y: string };
    for (const agentKey of [s.key.publicJwk, { y, x, crv, kty, kid: 'other-name', alg: 'ES256', use: 'sig' }]) {
      const res = await enrol({ id: 'laptop-9', agentKey });
      expect(res.status).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'conflict', detail: expect.stringContaining("already enrolled for device 'laptop-7'") });
      expect((await s.h.eventsOf(res)).map((e) => e.action)).not.toContain('device.enrolled');
    }
    expect(await s.h.db.selectFrom('devices').select('id').where('id', '=', 'laptop-9').execute()).toEqual([]);
    expect(await s.h.db.selectFrom('credential_versions').select('version').where('device_id', '=', 'laptop-9').execute()).toEqual([]);
  });

  it('a key of its own enrols; a retired device’s key stays spent', async () => {
    const key = await s.h.deviceKey();
    expect((await enrol({ id: 'laptop-10', agentKey: key.publicJwk })).status).toBe(201);
    expect((await s.h.api.delete('/v1/devices/laptop-10').set(bearer(s.tokens.admin))).status).toBe(200);
    const reused = await enrol({ id: 'laptop-11', agentKey: key.publicJwk });
    expect(reused.status).toBe(409);
    expect(reused.body.detail).toContain("device 'laptop-10'");
  });

  it('the store itself refuses a second row with one key (the unique index settles a race between daemons)', async () => {
    const row = await s.h.db.selectFrom('devices').selectAll().where('id', '=', 'laptop-7').executeTakeFirstOrThrow();
    // Matched by message, not toThrow: better-sqlite3's native part keeps the SqliteError class of
    // the first test file its Jest worker loaded, and toThrow does not count an Error of another realm.
    await expect(
      s.h.db
        .insertInto('devices')
        .values({ ...row, id: 'laptop-12' })
        .execute(),
    ).rejects.toMatchObject({ message: expect.stringMatching(/unique|duplicate/i) });
  });
});
