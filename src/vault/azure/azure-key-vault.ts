import fs from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import { PipelinePolicy, RestError } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { Logger } from 'pino';
import { Secret } from '../../secrets/secret';
import { SecretAddress, VaultBackend } from '../vault-backend';
import { RetrySettings, createWritePacer, kindOf, withRetries } from './key-vault-calls';
import { SecretNaming, isLastOfGeneration, secretName } from './secret-names';

export const contentType = 'application/vnd.jitbroker.local-admin-password; v=1';

export interface AzureKeyVaultSettings {
  url: string;
  naming: SecretNaming;
  retry: RetrySettings;
  /** Reads (a reveal waits on them) give up sooner than writes (the rotation worker retries later anyway). */
  readDeadlineMs: number;
  /** Writes (set, update, delete) allowed per window, spread evenly. */
  writes: { limit: number; perSeconds: number };
  /** How long a readiness answer is reused, so probes do not become vault traffic. */
  readyCacheMs: number;
  /** PEM of a CA to trust for this client only (a private CA, or the test server). */
  ca?: string;
  /** Only for a vault not under *.vault.azure.net (the local test server). */
  disableChallengeResourceVerification: boolean;
}

/** A reference as the broker stores it: the secret's name and Key Vault's version id. */
export function formatRef(name: string, kvVersion: string): string {
  return `akv:${name}/${kvVersion}`;
}

export function parseRef(ref: string): { name: string; kvVersion: string } | undefined {
  const m = /^akv:([0-9A-Za-z-]{1,127})\/([0-9a-f]{32})$/.exec(ref);
  return m ? { name: m[1] as string, kvVersion: m[2] as string } : undefined;
}

/**
 * The SDK throws a `TypeError` from its deserialiser when an error answer has no JSON body (a
 * bare 503 from a gateway, a 404 from a proxy). This turns such an answer into a `RestError`
 * with its status, so it is classified like any other. A 401 passes through untouched: it is
 * Key Vault's authentication challenge, which the SDK's own policy answers.
 */
const emptyErrorBodyPolicy: PipelinePolicy = {
  name: 'jitbrokerEmptyErrorBody',
  async sendRequest(request, next) {
    const response = await next(request);
    if (response.status < 400 || response.status === 401) return response;
    let body: unknown;
    try {
      body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    } catch {
      body = undefined;
    }
    if (body && typeof body === 'object' && 'error' in body) return response;
    throw new RestError(`Key Vault answered HTTP ${response.status} with no error body`, { statusCode: response.status, code: 'NoErrorBody', request, response });
  },
};

export type VersionState = 'pending' | 'current' | 'superseded' | 'failed' | 'pruned';

/**
 * Passwords in Azure Key Vault. One secret per device and generation (see secret-names.ts); each
 * broker version is a Key Vault version of it, tagged with the device, the broker version and its
 * state; the broker's tables keep only the reference `akv:{name}/{kv version}`. Every call has a
 * deadline and bounded retries, and writes are paced below the vault's throttling limit.
 */
export function createAzureKeyVault(deps: { credential: TokenCredential; settings: AzureKeyVaultSettings; logger: Logger }) {
  const s = deps.settings;
  const client = new SecretClient(s.url, deps.credential, {
    disableChallengeResourceVerification: s.disableChallengeResourceVerification,
    retryOptions: { maxRetries: 0 },
    ...(s.ca ? { tlsOptions: { ca: s.ca } } : {}),
    additionalPolicies: [{ policy: emptyErrorBodyPolicy, position: 'perRetry' }],
  });
  const pacer = createWritePacer(s.writes.limit, s.writes.perSeconds);
  const logRetry = (op: string) => (c: { kind: string; status?: number }, attempt: number, waitMs: number) =>
    deps.logger.warn({ op, kind: c.kind, status: c.status, attempt, waitMs: Math.round(waitMs) }, 'Key Vault call failed; retrying');
  const readRetry = { ...s.retry, deadlineMs: Math.min(s.retry.deadlineMs, s.readDeadlineMs) };
  const read = <T>(op: string, f: (signal: AbortSignal) => Promise<T>) => withRetries(op, readRetry, f, { onRetry: logRetry(op) });
  const write = <T>(op: string, f: (signal: AbortSignal) => Promise<T>) =>
    withRetries(op, s.retry, f, { beforeAttempt: (deadline) => pacer.acquire(deadline), onRetry: logRetry(op) });
  // Labels only in the write slots no password write wants.
  const label = <T>(op: string, f: (signal: AbortSignal) => Promise<T>) =>
    withRetries(op, s.retry, f, { beforeAttempt: (deadline) => pacer.acquireIdle(deadline), onRetry: logRetry(op) });

  const tags = (a: SecretAddress, state: VersionState) => ({ deviceId: a.deviceId, brokerVersion: String(a.version), state, managedBy: 'jitbroker' });

  let ready: { at: number; error?: Error } | undefined;

  const vault: VaultBackend & { markState(address: SecretAddress, ref: string, state: VersionState): Promise<void>; pacer: typeof pacer } = {
    pacer,
    async put(address, secret) {
      const name = secretName(s.naming, address.deviceId, address.version);
      const stored = await write('set', (abortSignal) => client.setSecret(name, secret.expose(), { contentType, tags: tags(address, 'pending'), enabled: true, abortSignal }));
      const version = stored.properties.version;
      if (!version) throw new Error('Key Vault stored the secret but named no version');
      return formatRef(name, version);
    },
    async get(address, ref) {
      const r = parseRef(ref);
      if (!r) throw new Error(`the reference for version ${address.version} of this device is not a Key Vault reference (was it stored by another vault backend?)`);
      let found;
      try {
        found = await read('get', (abortSignal) => client.getSecret(r.name, { version: r.kvVersion, abortSignal }));
      } catch (e) {
        const kind = kindOf(e);
        if (kind === 'not-found' || kind === 'disabled') return undefined;
        throw e;
      }
      // Like the local vault's additional data: a reference that leads to another device's or version's secret is refused.
      const t = found.properties.tags ?? {};
      if (t.deviceId !== address.deviceId || t.brokerVersion !== String(address.version)) {
        throw new Error(`Key Vault secret ${r.name} version ${r.kvVersion} is not tagged as version ${address.version} of this device`);
      }
      if (found.value === undefined) return undefined;
      return new Secret(found.value);
    },
    /** Key Vault cannot delete one version: disable it; the generation's last version deletes the whole (soft-deleted) secret. */
    async remove(address, ref) {
      const r = parseRef(ref);
      if (!r) return;
      try {
        await write('disable', (abortSignal) => client.updateSecretProperties(r.name, r.kvVersion, { enabled: false, tags: tags(address, 'pruned'), abortSignal }));
        if (isLastOfGeneration(address.version, s.naming.versionsPerSecret) && r.name === secretName(s.naming, address.deviceId, address.version)) {
          await write('delete', (abortSignal) => client.beginDeleteSecret(r.name, { abortSignal }));
        }
      } catch (e) {
        if (kindOf(e) === 'not-found') return;
        throw e;
      }
    },
    /** Tags are for people reading the vault; the broker's tables stay the truth, so this is best effort. */
    async markState(address, ref, state) {
      const r = parseRef(ref);
      if (!r) return;
      await label('tag', (abortSignal) => client.updateSecretProperties(r.name, r.kvVersion, { tags: tags(address, state), abortSignal }));
    },
    /** Reachable and authorised: a read of a name that never exists answers 404, not 401/403 or a timeout. */
    async check() {
      const now = Date.now();
      if (!ready || now - ready.at > s.readyCacheMs) {
        try {
          // One attempt: a readiness probe answers now, it does not wait out an outage.
          const once = { ...s.retry, maxRetries: 0, deadlineMs: s.retry.attemptTimeoutMs };
          await withRetries('probe', once, (abortSignal) => client.getSecret(`${s.naming.prefix}-readiness-probe`, { abortSignal }));
          ready = { at: now };
        } catch (e) {
          ready = kindOf(e) === 'not-found' ? { at: now } : { at: now, error: e instanceof Error ? e : new Error(String(e)) };
        }
      }
      if (ready.error) throw ready.error;
    },
  };
  return vault;
}

export function readCa(file: string | undefined): string | undefined {
  return file === undefined ? undefined : fs.readFileSync(file, 'utf8');
}
