import fs from 'node:fs';
import { SignJWT } from 'jose';
import { Logger } from 'pino';
import { Secret } from '../secrets/secret';
import { failpoint } from '../failpoints/failpoint';
import { writeFileAtomic } from '../files/atomic-file';
import { DeviceKey, deviceKeyAlgorithm } from './device-key';
import { PasswordSetter } from './password-setter';
import { timeOrderedId } from '../store/ids';

export interface AgentOptions {
  url: string;
  deviceId: string;
  key: DeviceKey;
  setter: PasswordSetter;
  /** Where the agent records which version it set, so a lost acknowledgement is repeated after a restart. */
  stateFile: string;
  audience: string;
  account?: string;
  logger: Logger;
  tokenLifetimeSeconds?: number;
}

/** What the agent has durably recorded about the last version it set on the device. */
interface AgentState {
  deviceId: string;
  version: number;
  acknowledged: boolean;
}

export type PollOutcome = 'idle' | 'set' | 'failed';

class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

/** The device agent: fetch the pending password, set it on the device, acknowledge it. */
export function createDeviceAgent(o: AgentOptions) {
  const lifetime = o.tokenLifetimeSeconds ?? 60;

  function readState(): AgentState | undefined {
    if (!fs.existsSync(o.stateFile)) return undefined;
    const s = JSON.parse(fs.readFileSync(o.stateFile, 'utf8')) as AgentState;
    return s.deviceId === o.deviceId ? s : undefined;
  }
  const writeState = (s: AgentState) => writeFileAtomic(o.stateFile, JSON.stringify(s) + '\n');

  /** A fresh short-lived token per request: a captured one is useless once used (jti) or after its minute. */
  async function token(): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: deviceKeyAlgorithm, typ: 'JWT', ...(o.key.publicJwk.kid ? { kid: o.key.publicJwk.kid } : {}) })
      .setIssuer(o.deviceId)
      .setSubject(o.deviceId)
      .setAudience(o.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetime)
      .setJti(timeOrderedId())
      .sign(o.key.privateKey);
  }

  async function request(method: string, path: string, body?: unknown): Promise<{ status: number; json?: unknown }> {
    const res = await fetch(new URL(path, o.url), {
      method,
      headers: { authorization: `Bearer ${await token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (res.status >= 400) throw new AgentHttpError(res.status, (json as { detail?: string } | undefined)?.detail ?? `HTTP ${res.status}`);
    return { status: res.status, json };
  }

  async function acknowledge(version: number, result: 'set' | 'failed', error?: string): Promise<void> {
    await request('POST', `/v1/agent/credential/${version}/ack`, { result, ...(error ? { error } : {}) });
  }

  /** One poll. Idempotent: running it again after a crash at any point converges. */
  async function pollOnce(): Promise<PollOutcome> {
    const state = readState();
    if (state && !state.acknowledged) {
      // The password was set but the broker may not know: say so again before anything else.
      try {
        await acknowledge(state.version, 'set');
      } catch (e) {
        // The broker no longer takes this version (it moved on); fetching what is pending now repairs the device.
        if (!(e instanceof AgentHttpError && (e.status === 409 || e.status === 404))) throw e;
        o.logger.error({ version: state.version, reason: e.message }, 'the broker refused a repeated acknowledgement');
      }
      writeState({ ...state, acknowledged: true });
      o.logger.info({ version: state.version }, 're-acknowledged a password set before a restart');
    }
    const res = await request('GET', '/v1/agent/credential');
    if (res.status === 204) return 'idle';
    const pending = res.json as { version: number; account: string; password: string };
    const password = new Secret(pending.password);
    failpoint('agent.after-fetch');
    const account = o.account ?? pending.account;
    try {
      await o.setter.set(account, password);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).replaceAll(password.expose(), '[redacted]').slice(0, 1000);
      o.logger.error({ version: pending.version, reason }, 'could not set the password on the device');
      await acknowledge(pending.version, 'failed', reason);
      return 'failed';
    }
    failpoint('agent.after-set');
    // Recorded before the acknowledgement, so a crash between the two is repaired by re-acknowledging.
    writeState({ deviceId: o.deviceId, version: pending.version, acknowledged: false });
    failpoint('agent.after-state');
    await acknowledge(pending.version, 'set');
    failpoint('agent.after-ack');
    writeState({ deviceId: o.deviceId, version: pending.version, acknowledged: true });
    o.logger.info({ version: pending.version, account }, 'password set and acknowledged');
    return 'set';
  }

  return { pollOnce };
}

export type DeviceAgent = ReturnType<typeof createDeviceAgent>;
export { AgentHttpError };
