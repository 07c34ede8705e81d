import { ClientSecretCredential } from '@azure/identity';
import { isRestError } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import { FakeKeyVault, startFakeKeyVault } from '../support/fake-key-vault';

/** The fake must behave like Key Vault for the real SDK, or the backend's tests prove nothing. */
describe('the local Key Vault server, driven by the real SecretClient', () => {
  let kv: FakeKeyVault;
  let client: SecretClient;
  const cred = { getToken: async () => ({ token: 'test-token', expiresOnTimestamp: Date.now() + 3600e3 }) };
  beforeAll(async () => {
    kv = await startFakeKeyVault({ clients: { 'app-id': 'app-secret' } });
  });
  afterAll(() => kv.close());
  beforeEach(() => {
    client = new SecretClient(kv.base, cred, {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: kv.ca },
      retryOptions: { maxRetries: 0 },
    });
  });

  it('answers the first, bare request with the bearer challenge, then serves the resent one', async () => {
    kv.log.length = 0;
    await client.setSecret('challenge', 'value-1');
    expect(kv.log.map((r) => [r.method, r.hasAuth, r.status])).toEqual([
      ['PUT', false, 401],
      ['PUT', true, 200],
    ]);
    // The SDK strips the body from the bare request: the fake must not store anything from it.
    expect(kv.log[0]?.bodyLength).toBe(0);
  });

  it('sets, gets latest and by version, updates properties, lists versions over pages, deletes, recovers and purges', async () => {
    const a = await client.setSecret('life', 'first', { tags: { deviceId: 'd1' }, contentType: 'text/plain' });
    const b = await client.setSecret('life', 'second');
    expect((await client.getSecret('life')).value).toBe('second');
    expect((await client.getSecret('life', { version: a.properties.version })).value).toBe('first');
    const updated = await client.updateSecretProperties('life', a.properties.version as string, { enabled: false, tags: { state: 'pruned' } });
    expect(updated.enabled).toBe(false);
    expect(updated.tags).toEqual({ state: 'pruned' });
    await expect(client.getSecret('life', { version: a.properties.version })).rejects.toMatchObject({ statusCode: 403 });
    for (let i = 0; i < 20; i++) await client.setSecret('life', `v${i}`);
    const pages: number[] = [];
    const ids = new Set<string>();
    for await (const page of client.listPropertiesOfSecretVersions('life').byPage({ maxPageSize: 7 })) {
      pages.push(page.length);
      page.forEach((p) => ids.add(p.version as string));
    }
    expect(pages).toEqual([7, 7, 7, 1]);
    expect(ids.size).toBe(22);
    expect(ids.has(b.properties.version as string)).toBe(true);
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    expect(names).toContain('life');
    await (await client.beginDeleteSecret('life', { intervalInMs: 10 })).pollUntilDone();
    await expect(client.setSecret('life', 'again')).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
    await (await client.beginRecoverDeletedSecret('life', { intervalInMs: 10 })).pollUntilDone();
    expect((await client.getSecret('life')).value).toBe('v19');
    await (await client.beginDeleteSecret('life', { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret('life');
    await expect(client.getDeletedSecret('life')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('answers a missing secret with a RestError SecretNotFound', async () => {
    const e: unknown = await client.getSecret('never-there').catch((x: unknown) => x);
    expect(isRestError(e)).toBe(true);
    expect(e).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
  });

  it('issues tokens to ClientSecretCredential (discovery, client-credentials grant) that the vault accepts, and refuses a wrong secret', async () => {
    const authorityHost = kv.base;
    const good = new ClientSecretCredential(kv.tenantId, 'app-id', 'app-secret', { authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: kv.ca } });
    const withCred = new SecretClient(kv.base, good, { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.ca }, retryOptions: { maxRetries: 0 } });
    const before = kv.tokensIssued();
    await withCred.setSecret('via-credential', 'x');
    expect(kv.tokensIssued()).toBe(before + 1);
    const wrong = new ClientSecretCredential(kv.tenantId, 'app-id', 'not-the-secret', { authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: kv.ca } });
    const refused = new SecretClient(kv.base, wrong, { disableChallengeResourceVerification: true, tlsOptions: { ca: kv.ca }, retryOptions: { maxRetries: 0 } });
    await expect(refused.getSecret('via-credential')).rejects.toThrow(/invalid_client|AADSTS7000215/);
  });

  it('is refused by a client that does not trust its certificate (TLS checks stay on)', async () => {
    const untrusting = new SecretClient(kv.base, cred, { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
    await expect(untrusting.getSecret('x')).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) });
  });
});
