import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createDeviceAgent } from '../../src/agent/device-agent';
import { PasswordSetter } from '../../src/agent/password-setter';
import { passwordSetters } from '../../src/agent/password-setter';
import { redactPaths } from '../../src/logging/redact-paths';
import { Secret } from '../../src/secrets/secret';
import { runCli } from '../support/daemon-process';
import { DeviceKeyPair, TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

describe('the device agent against a listening broker', () => {
  let h: TestApp;
  let url: string;
  let key: DeviceKeyPair;
  let logs: string[];
  const deviceFile = () => path.join(h.dataDir, 'device.pw');
  const stateFile = () => path.join(h.dataDir, 'agent.state');
  const agent = (setter: PasswordSetter = passwordSetters.file({ file: deviceFile() })) =>
    createDeviceAgent({
      url,
      deviceId: 'laptop-7',
      key,
      setter,
      stateFile: stateFile(),
      audience: 'jitbroker-agent',
      logger: pino({ redact: { paths: redactPaths, censor: '[redacted]' } }, { write: (l: string) => void logs.push(l) }),
    });
  const view = async () => (await h.api.get('/v1/devices/laptop-7').set(bearer(await h.token('admin-1', ['admin'])))).body;

  beforeEach(async () => {
    h = await createTestApp();
    url = await h.listen();
    key = await h.enrolDevice('laptop-7', ['fleet']);
    logs = [];
  });
  afterEach(async () => {
    await h.close();
  });

  it('sets the pending password on the device, acknowledges it, then has nothing to do', async () => {
    expect(await agent().pollOnce()).toBe('set');
    const [v1] = await h.knownPasswords();
    expect(fs.readFileSync(deviceFile(), 'utf8')).toBe(v1);
    expect((await view()).credential).toMatchObject({ currentVersion: 1, pendingVersion: null });
    expect(JSON.parse(fs.readFileSync(stateFile(), 'utf8'))).toEqual({ deviceId: 'laptop-7', version: 1, acknowledged: true });
    expect(await agent().pollOnce()).toBe('idle');
    expect(logs.join('\n')).not.toContain(v1);
  });

  it('after a restart that lost its acknowledgement, acknowledges again before anything else', async () => {
    // The agent set version 1 and died before the broker heard of it.
    const fetched = await h.api.get('/v1/agent/credential').set(bearer(await h.agentToken('laptop-7', key)));
    fs.writeFileSync(deviceFile(), fetched.body.password);
    fs.writeFileSync(stateFile(), JSON.stringify({ deviceId: 'laptop-7', version: 1, acknowledged: false }));
    expect(await agent().pollOnce()).toBe('idle');
    expect((await view()).credential).toMatchObject({ currentVersion: 1, pendingVersion: null });
    expect(logs.some((l) => l.includes('re-acknowledged'))).toBe(true);
  });

  it('reports a failed set with the error text, never the password, and the broker retries later', async () => {
    const leaky: PasswordSetter = {
      async set(_account, password: Secret) {
        throw new Error(`net user localadmin ${password.expose()}: The password does not meet the password policy requirements.`);
      },
    };
    expect(await agent(leaky).pollOnce()).toBe('failed');
    const row = await h.db.selectFrom('credential_versions').selectAll().where('version', '=', 1).executeTakeFirstOrThrow();
    expect(row.state).toBe('failed');
    expect(row.error).toBe('net user localadmin [redacted]: The password does not meet the password policy requirements.');
    expect((await view()).rotation).toMatchObject({ failures: 1, queued: { reason: 'initial' } });
    // the leak check at close() also proves the password reached no response and no log
  });

  it('every request carries a fresh token: replaying none of them is possible', async () => {
    await agent().pollOnce();
    const jtis = await h.db.selectFrom('agent_tokens').select('jti').execute();
    expect(jtis.length).toBeGreaterThanOrEqual(2);
    expect(new Set(jtis.map((j) => j.jti)).size).toBe(jtis.length);
  });
});

describe('jitbroker agent run: its waits are bounded', () => {
  it.each([
    ['--interval', '2d'],
    ['--max-backoff', 'P999999999D'],
  ])('refuses %s %s (exit 2) before it polls', (flag, value) => {
    // Past node's timer limit (24.8 days) a wait fires at once: the agent would poll in a tight loop.
    const r = runCli(['agent', 'run', '--device-id', 'laptop-7', '--key', path.join(os.tmpdir(), 'no-such.key'), '--setter', 'file', flag, value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--interval and --max-backoff take a lifetime of at most 1d/);
  });
});
