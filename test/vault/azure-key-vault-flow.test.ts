import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { escapeDeviceId } from '../../src/vault/azure/secret-names';
import { waitUntil } from '../support/wait-until';
import { FakeKeyVault, Fault, startFakeKeyVault, unavailable } from '../support/fake-key-vault';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

/**
 * The elevation flow with `vault.backend: azure-keyvault`: the daemon's own config, the real
 * ClientSecretCredential (token from the local authority) and SecretClient, against the local
 * Key Vault server.
 */
const secretEnv = 'JITBROKER_TEST_KV_CLIENT_SECRET';
let kv: FakeKeyVault;
let caFile: string;

beforeAll(async () => {
  kv = await startFakeKeyVault({ clients: { 'broker-app': 'broker-app-secret' } });
  caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-kv-ca-')), 'ca.pem');
  fs.writeFileSync(caFile, kv.ca);
  process.env[secretEnv] = 'broker-app-secret';
});
afterAll(async () => {
  delete process.env[secretEnv];
  await kv.close();
  fs.rmSync(path.dirname(caFile), { recursive: true, force: true });
});

function kvEnv(over: Record<string, string> = {}): Record<string, string> {
  return {
    JITBROKER_VAULT_BACKEND: 'azure-keyvault',
    JITBROKER_VAULT_AZURE_URL: kv.base,
    JITBROKER_VAULT_AZURE_CA_FILE: caFile,
    JITBROKER_VAULT_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'client-secret',
    JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: kv.tenantId,
    JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_ID: 'broker-app',
    JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_SECRET_ENV: secretEnv,
    JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: kv.base,
    JITBROKER_VAULT_AZURE_MAX_RETRIES: '2',
    JITBROKER_VAULT_AZURE_RETRY_BASE_MS: '5',
    JITBROKER_VAULT_AZURE_RETRY_MAX_MS: '20',
    JITBROKER_VAULT_AZURE_READY_CACHE_SECONDS: '0',
    ...over,
  };
}
const onDevice = (deviceId: string) => (r: { path: string }) => r.path.startsWith(`/secrets/jitbroker-d-${escapeDeviceId(deviceId)}--`);

describe('the elevation flow on Azure Key Vault', () => {
  let s: Scenario;
  beforeEach(async () => {
    kv.faults.length = 0;
    s = await createScenario({}, kvEnv());
  });
  afterEach(async () => {
    kv.faults.length = 0;
    await s.h.close();
  });

  it('keeps the password in Key Vault, only its reference in the broker, and reveals it to the grant holder', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
    expect(res.status).toBe(200);
    expect(res.body.password).toBe(s.password);
    const rows = await s.h.db.selectFrom('credential_versions').select(['version', 'vault_ref']).where('device_id', '=', 'laptop-7').execute();
    expect(rows).toEqual([{ version: 1, vault_ref: expect.stringMatching(/^akv:jitbroker-d-laptop-07--0\/[0-9a-f]{32}$/) }]);
    expect(kv.values()).toContain(s.password);
    expect((await s.h.snapshot()).vault_secrets).toBe(0);
    // The acknowledgement labels the version current in the vault (best effort, after the answer).
    await waitUntil("laptop-07's first version tagged current in Key Vault", () => kv.secrets.get('jitbroker-d-laptop-07--0')?.versions[0]?.tags?.state === 'current', {
      timeoutMs: 5000,
    });
    expect(kv.secrets.get('jitbroker-d-laptop-07--0')?.versions[0]?.tags).toMatchObject({ deviceId: 'laptop-7', brokerVersion: '1' });
  });

  it('answers a reveal during a vault outage with 503, reveals nothing and records no reveal; /readyz reports the vault down', async () => {
    const g = await requestGrant(s, s.tokens.alice);
    const revealsBefore = (await s.h.audit.query({ action: 'grant.password-revealed', outcome: 'success', limit: 10 })).items.length;
    kv.faults.push(
      unavailable(1000, onDevice('laptop-7')),
      unavailable(1000, (r) => r.path.includes('readiness-probe')),
    );
    const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'unavailable', detail: expect.stringMatching(/nothing was revealed/) });
    expect(res.text).not.toContain(s.password);
    expect((await s.h.audit.query({ action: 'grant.password-revealed', outcome: 'success', limit: 10 })).items).toHaveLength(revealsBefore);
    // The attempt is on record, as a failure.
    const failed = await s.h.audit.query({ action: 'grant.password-revealed', outcome: 'failure', limit: 10 });
    expect(failed.items.map((e) => e.reason)).toEqual([expect.stringMatching(/vault could not be read; nothing was revealed/)]);
    expect((await s.h.api.get('/readyz')).status).toBe(503);
    kv.faults.length = 0;
    expect((await s.h.api.get('/readyz')).status).toBe(200);
    const again = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
    expect(again.status).toBe(200);
    expect(again.body.password).toBe(s.password);
  });

  it('keeps a rotation whose vault write fails queued, and completes it once the vault is back (invariant 5)', async () => {
    const writes: Fault = { ...unavailable(1000), match: (r) => r.method === 'PUT' && onDevice('laptop-7')(r) };
    kv.faults.push(writes);
    await s.h.api.post('/v1/devices/laptop-7/rotate').set(bearer(s.tokens.admin)).send().expect(202);
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    const view = async () => (await s.h.api.get('/v1/devices/laptop-7').set(bearer(s.tokens.admin))).body;
    const failed = await view();
    expect(failed.rotation).toMatchObject({ failures: 1, queued: { reason: 'manual', attempts: 1 } });
    expect(failed.credential).toMatchObject({ currentVersion: 1, pendingVersion: null });
    kv.faults.length = 0;
    s.h.clock.advance(Date.parse(failed.rotation.queued.dueAt) - s.h.clock.now().getTime());
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    const { version, password } = await s.h.ackPending('laptop-7', s.key);
    expect(version).toBe(2);
    expect(password).not.toBe(s.password);
    expect((await view()).rotation).toMatchObject({ failures: 0, queued: null });
  });
});

describe('Azure Key Vault settings are checked before the daemon starts', () => {
  it('refuses a missing url, a non-vault host, and a client secret that is not in the environment', async () => {
    const { loadConfig } = await import('../../src/config/load-config');
    expect(() => loadConfig({ env: { JITBROKER_VAULT_BACKEND: 'azure-keyvault' } })).toThrow(/config vault\.azure\.url: .*is required with vault\.backend azure-keyvault/);
    expect(() => loadConfig({ env: { JITBROKER_VAULT_BACKEND: 'azure-keyvault', JITBROKER_VAULT_AZURE_URL: 'https://evil.example.com' } })).toThrow(
      /not a Key Vault host; accepted: a host under \.vault\.azure\.net/,
    );
    expect(() => loadConfig({ env: { JITBROKER_VAULT_BACKEND: 'azure-keyvault', JITBROKER_VAULT_AZURE_URL: 'http://x.vault.azure.net' } })).toThrow(/must be https/);
    expect(() => loadConfig({ env: { JITBROKER_VAULT_BACKEND: 'azure-keyvault', JITBROKER_VAULT_AZURE_URL: 'https://corp.vault.azure.net' } })).not.toThrow();
    await expect(createScenario({}, kvEnv({ JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_SECRET_ENV: 'NOT_SET_ANYWHERE' }))).rejects.toThrow(
      /reads the secret from the environment variable NOT_SET_ANYWHERE, which is not set/,
    );
  });
});
