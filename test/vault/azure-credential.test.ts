import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { AggregateAuthenticationError, AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError, ManagedIdentityCredential } from '@azure/identity';
import pino from 'pino';
import selfsigned from 'selfsigned';
import { Secret } from '../../src/secrets/secret';
import { CredentialSettings, createCredential, credentialProblem } from '../../src/vault/azure/azure-credential';
import { createAzureKeyVault } from '../../src/vault/azure/azure-key-vault';
import { KeyVaultError, classify } from '../../src/vault/azure/key-vault-calls';
import { FakeKeyVault, clientAssertionProblem, startFakeKeyVault } from '../support/fake-key-vault';
import { createTestApp } from '../support/test-app';

/**
 * Every credential kind of vault.azure.credential: what start-up refuses, and, for each kind, the
 * real @azure/identity credential getting a token from the local authority (or the local managed
 * identity endpoint) and the real SecretClient writing and reading a secret with it.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-credential-'));
const file = (name: string) => path.join(dir, name);
const tenantId = '3f1c2a9e-6b7d-4e8f-9a0b-1c2d3e4f5a6b';
const tokenEndpoint = `https://login.example.test/${tenantId}/oauth2/v2.0/token`;

type Pems = { cert: string; private: string };
const certificate = (cn: string, validity: { notBeforeDate?: Date; notAfterDate?: Date; keyType?: 'rsa' | 'ec' } = {}): Promise<Pems> =>
  selfsigned.generate([{ name: 'commonName', value: cn }], { keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + 86400000), ...validity });

let registered: Pems;
let unregistered: Pems;
let kv: FakeKeyVault;
const federatedToken = [
  { alg: 'RS256', kid: 'sa-signing-key', typ: 'JWT' },
  { iss: 'https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/', sub: 'system:serviceaccount:jitbroker:jitbroker', aud: 'api://AzureADTokenExchange' },
]
  .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
  .concat(crypto.randomBytes(256).toString('base64url'))
  .join('.');

beforeAll(async () => {
  const [a, b, expired, ec] = await Promise.all([
    certificate('jitbroker-app'),
    certificate('someone-else'),
    certificate('jitbroker-app-old', { notBeforeDate: new Date(Date.now() - 2 * 86400000), notAfterDate: new Date(Date.now() - 86400000) }),
    certificate('jitbroker-app-ec', { keyType: 'ec' }),
  ]);
  registered = a;
  unregistered = b;
  // selfsigned's PEMs end without a newline; a file joins them line by line, as `cat` of PEM files does.
  const pem = (...parts: string[]) => parts.map((p) => p.trimEnd() + '\n').join('');
  fs.writeFileSync(file('app.pem'), pem(a.cert, a.private));
  fs.writeFileSync(file('key-first.pem'), pem(a.private, a.cert));
  fs.writeFileSync(file('other.pem'), pem(b.cert, b.private));
  fs.writeFileSync(file('cert-only.pem'), pem(a.cert));
  fs.writeFileSync(file('key-only.pem'), pem(a.private));
  fs.writeFileSync(file('glued.pem'), a.cert.trimEnd() + a.private);
  fs.writeFileSync(file('mismatched.pem'), pem(a.cert, b.private));
  fs.writeFileSync(file('garbled.pem'), pem('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----', a.private));
  const encrypted = crypto.createPrivateKey(a.private).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' });
  fs.writeFileSync(file('encrypted.pem'), pem(a.cert, encrypted.toString()));
  fs.writeFileSync(file('expired.pem'), pem(expired.cert, expired.private));
  fs.writeFileSync(file('ec.pem'), pem(ec.cert, ec.private));
  fs.writeFileSync(file('sa-token'), federatedToken + '\n');
  fs.writeFileSync(file('other-sa-token'), federatedToken.slice(0, -8) + 'AAAAAAAA');
  fs.writeFileSync(file('empty-sa-token'), '\n');
  kv = await startFakeKeyVault({
    tenantId,
    clients: { 'env-app': 'env-app-secret' },
    certificates: { 'cert-app': a.cert },
    federatedTokens: { 'workload-app': federatedToken },
    managedIdentities: ['mi-user-assigned'],
  });
});
afterAll(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = { clientSecretEnv: 'APP_SECRET' } as const;

describe('credentialProblem: what each kind needs, refused at start-up naming the key', () => {
  const expiredOn = () => new crypto.X509Certificate(fs.readFileSync(file('expired.pem'))).validTo;
  const refused: [string, CredentialSettings, NodeJS.ProcessEnv, string | (() => string)][] = [
    [
      'client-secret without tenantId',
      { ...base, kind: 'client-secret', clientId: 'app' },
      { APP_SECRET: 's' },
      'vault.azure.credential.tenantId is required with kind client-secret (the directory the application is registered in)',
    ],
    [
      'client-secret without clientId',
      { ...base, kind: 'client-secret', tenantId },
      { APP_SECRET: 's' },
      "vault.azure.credential.clientId is required with kind client-secret (the application's client id)",
    ],
    [
      'client-secret whose variable is not set',
      { ...base, kind: 'client-secret', tenantId, clientId: 'app' },
      {},
      'vault.azure.credential.clientSecretEnv: kind client-secret reads the secret from the environment variable APP_SECRET, which is not set',
    ],
    [
      'client-secret whose variable is empty',
      { ...base, kind: 'client-secret', tenantId, clientId: 'app' },
      { APP_SECRET: '' },
      'vault.azure.credential.clientSecretEnv: kind client-secret reads the secret from the environment variable APP_SECRET, which is not set',
    ],
    [
      'client-certificate without tenantId',
      { ...base, kind: 'client-certificate', clientId: 'app', certificatePath: file('app.pem') },
      {},
      'vault.azure.credential.tenantId is required with kind client-certificate (the directory the application is registered in)',
    ],
    [
      'client-certificate without clientId',
      { ...base, kind: 'client-certificate', tenantId, certificatePath: file('app.pem') },
      {},
      "vault.azure.credential.clientId is required with kind client-certificate (the application's client id)",
    ],
    [
      'client-certificate without certificatePath',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app' },
      {},
      'vault.azure.credential.certificatePath is required with kind client-certificate (a PEM file holding the certificate and its private key)',
    ],
    [
      'a certificate file that does not exist',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('absent.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('absent.pem')}: cannot be read (ENOENT)`,
    ],
    [
      'a certificate file with no private key',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('cert-only.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('cert-only.pem')}: holds no private key; the file must hold the certificate and its private key, in PEM`,
    ],
    [
      'a key file with no certificate',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('key-only.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('key-only.pem')}: holds no PEM certificate; the file must hold the certificate and its private key, in PEM`,
    ],
    [
      'a certificate block that is not a certificate',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('garbled.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('garbled.pem')}: its certificate cannot be parsed`,
    ],
    [
      'an encrypted private key',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('encrypted.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('encrypted.pem')}: its private key is encrypted; jitbroker takes no certificate password, so give an unencrypted key and protect the file by its permissions`,
    ],
    [
      'a key glued to the end of the certificate line',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('glued.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('glued.pem')}: its private key cannot be parsed`,
    ],
    [
      "another certificate's private key",
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('mismatched.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('mismatched.pem')}: its private key does not belong to its certificate (the first one in the file)`,
    ],
    [
      'an elliptic-curve certificate',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('ec.pem') },
      {},
      `vault.azure.credential.certificatePath ${file('ec.pem')}: its key is ec; the client assertion is signed RS256/PS256, which needs an RSA key`,
    ],
    [
      'an expired certificate',
      { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('expired.pem') },
      {},
      () => `vault.azure.credential.certificatePath ${file('expired.pem')}: its certificate expired on ${expiredOn()}; Entra refuses assertions signed with it`,
    ],
    [
      'a certificatePath with a kind that ignores it',
      { ...base, kind: 'managed-identity', certificatePath: file('app.pem') },
      {},
      'vault.azure.credential.certificatePath is set, but kind managed-identity does not use it (only kind client-certificate does)',
    ],
    [
      'workload-identity with no tenant anywhere',
      { ...base, kind: 'workload-identity' },
      { AZURE_CLIENT_ID: 'wl', AZURE_FEDERATED_TOKEN_FILE: file('sa-token') },
      'vault.azure.credential.tenantId is required with kind workload-identity when AZURE_TENANT_ID is not set',
    ],
    [
      'workload-identity with no client id anywhere',
      { ...base, kind: 'workload-identity', tenantId },
      { AZURE_FEDERATED_TOKEN_FILE: file('sa-token') },
      'vault.azure.credential.clientId is required with kind workload-identity when AZURE_CLIENT_ID is not set',
    ],
    [
      'workload-identity without the federated token file',
      { ...base, kind: 'workload-identity', tenantId, clientId: 'wl' },
      { AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'wl' },
      'vault.azure.credential: kind workload-identity reads the service account token from the file named by AZURE_FEDERATED_TOKEN_FILE, which is not set (the workload identity webhook sets it for a pod labelled azure.workload.identity/use: "true")',
    ],
    [
      'workload-identity whose token file is missing',
      { ...base, kind: 'workload-identity' },
      { AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'wl', AZURE_FEDERATED_TOKEN_FILE: file('absent-token') },
      `AZURE_FEDERATED_TOKEN_FILE ${file('absent-token')}: cannot be read (ENOENT); kind workload-identity reads the service account token from it`,
    ],
    [
      'workload-identity whose token file is empty',
      { ...base, kind: 'workload-identity' },
      { AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'wl', AZURE_FEDERATED_TOKEN_FILE: file('empty-sa-token') },
      `AZURE_FEDERATED_TOKEN_FILE ${file('empty-sa-token')}: is empty; kind workload-identity reads the service account token from it`,
    ],
    [
      'managed-identity with a malformed identity endpoint',
      { ...base, kind: 'managed-identity' },
      { IDENTITY_ENDPOINT: '127.0.0.1:8081 /msi/token', IDENTITY_HEADER: 'h' },
      'IDENTITY_ENDPOINT 127.0.0.1:8081 /msi/token: not a URL; kind managed-identity calls it for tokens',
    ],
    [
      'default with an AZURE_TOKEN_CREDENTIALS it does not know',
      { ...base, kind: 'default' },
      { AZURE_TOKEN_CREDENTIALS: 'production' },
      'AZURE_TOKEN_CREDENTIALS production: kind default (DefaultAzureCredential) accepts only prod, dev, environmentcredential, workloadidentitycredential, managedidentitycredential, visualstudiocodecredential, azureclicredential, azurepowershellcredential, azuredeveloperclicredential',
    ],
  ];
  it.each(refused)('refuses %s', (_name, settings, env, expected) => {
    expect(credentialProblem(settings, env)).toBe(typeof expected === 'function' ? expected() : expected);
  });

  const accepted: [string, CredentialSettings, NodeJS.ProcessEnv][] = [
    ['client-secret with its ids and variable', { ...base, kind: 'client-secret', tenantId, clientId: 'app' }, { APP_SECRET: 's' }],
    ['client-certificate: certificate then key', { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('app.pem') }, {}],
    ['client-certificate: key then certificate', { ...base, kind: 'client-certificate', tenantId, clientId: 'app', certificatePath: file('key-first.pem') }, {}],
    [
      'workload-identity from the webhook variables alone',
      { ...base, kind: 'workload-identity' },
      { AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'wl', AZURE_FEDERATED_TOKEN_FILE: file('sa-token') },
    ],
    ['workload-identity with the ids in the config', { ...base, kind: 'workload-identity', tenantId, clientId: 'wl' }, { AZURE_FEDERATED_TOKEN_FILE: file('sa-token') }],
    ['managed-identity, system-assigned (IMDS)', { ...base, kind: 'managed-identity' }, {}],
    [
      'managed-identity, user-assigned on App Service',
      { ...base, kind: 'managed-identity', clientId: 'mi' },
      { IDENTITY_ENDPOINT: 'http://localhost:8081/msi/token', IDENTITY_HEADER: 'h' },
    ],
    ['default with nothing set', { ...base, kind: 'default' }, {}],
    ['default limited to production credentials', { ...base, kind: 'default' }, { AZURE_TOKEN_CREDENTIALS: 'prod' }],
  ];
  it.each(accepted)('accepts %s', (_name, settings, env) => {
    expect(credentialProblem(settings, env)).toBeUndefined();
  });

  it('stops the daemon before it starts when the certificate file holds no private key', async () => {
    const caFile = file('vault-ca.pem');
    fs.writeFileSync(caFile, kv.ca);
    await expect(
      createTestApp({
        JITBROKER_VAULT_BACKEND: 'azure-keyvault',
        JITBROKER_VAULT_AZURE_URL: kv.base,
        JITBROKER_VAULT_AZURE_CA_FILE: caFile,
        JITBROKER_VAULT_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
        JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'client-certificate',
        JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: tenantId,
        JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_ID: 'cert-app',
        JITBROKER_VAULT_AZURE_CREDENTIAL_CERTIFICATE_PATH: file('cert-only.pem'),
        JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: kv.base,
      }),
    ).rejects.toThrow(`vault.azure.credential.certificatePath ${file('cert-only.pem')}: holds no private key`);
    expect(kv.log).toEqual([]);
  });

  it("stops it, in one line naming the key, when the identity library refuses what the environment holds (the webhook's AZURE_TENANT_ID)", async () => {
    const caFile = file('vault-ca.pem');
    fs.writeFileSync(caFile, kv.ca);
    const restore = withEnv({ AZURE_TENANT_ID: 'not a tenant!', AZURE_CLIENT_ID: 'workload-app', AZURE_FEDERATED_TOKEN_FILE: file('sa-token') });
    try {
      const started = createTestApp({
        JITBROKER_VAULT_BACKEND: 'azure-keyvault',
        JITBROKER_VAULT_AZURE_URL: kv.base,
        JITBROKER_VAULT_AZURE_CA_FILE: caFile,
        JITBROKER_VAULT_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
        JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'workload-identity',
      });
      await expect(started).rejects.toThrow(/^vault\.azure\.credential: Invalid tenant id provided/);
      await expect(started).rejects.toHaveProperty('name', 'VaultConfigError');
    } finally {
      restore();
    }
    expect(kv.log).toEqual([]);
  });
});

/** The backend as the daemon builds it, on this credential, against the local vault. */
function vaultWith(credential: TokenCredential) {
  return createAzureKeyVault({
    credential,
    logger: pino({ level: 'silent' }),
    settings: {
      url: kv.base,
      naming: { prefix: 'jitbroker', versionsPerSecret: 100 },
      retry: { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20, attemptTimeoutMs: 3000, deadlineMs: 5000 },
      readDeadlineMs: 5000,
      writes: { limit: 1000, perSeconds: 1 },
      readyCacheMs: 0,
      ca: kv.ca,
      disableChallengeResourceVerification: true,
    },
  });
}

async function putAndGet(credential: TokenCredential, deviceId: string): Promise<void> {
  const vault = vaultWith(credential);
  const address = { deviceId, version: 1 };
  const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
  const ref = await vault.put(address, new Secret(password));
  expect((await vault.get(address, ref))?.expose()).toBe(password);
  expect(kv.values()).toContain(password);
}

const tokenRequests = () => kv.log.filter((r) => r.method === 'POST' && r.path === `/${tenantId}/oauth2/v2.0/token`);
const identityRequests = () => kv.log.filter((r) => r.path === '/msi/token');
const vaultRequests = () => kv.log.filter((r) => r.path.startsWith('/secrets/'));

/** A write with a credential that is refused: one attempt, not retried, and nothing reaches the vault with a token. Returns why. */
async function refusedWrite(credential: TokenCredential, deviceId: string): Promise<string> {
  const e = await vaultWith(credential)
    .put({ deviceId, version: 2 }, new Secret('never-stored'))
    .catch((x: unknown) => x);
  expect(e).toBeInstanceOf(KeyVaultError);
  expect((e as KeyVaultError).attempts).toBe(1);
  expect((e as KeyVaultError).classified).toEqual({ retryable: false, kind: 'credential' });
  expect((e as KeyVaultError).message).toBe('Key Vault set failed after 1 attempt: credential');
  expect(vaultRequests().filter((r) => r.hasAuth)).toEqual([]);
  expect(kv.values()).not.toContain('never-stored');
  return String(((e as KeyVaultError).cause as Error | undefined)?.message);
}

beforeEach(() => {
  kv.log.length = 0;
});

describe('kind client-certificate', () => {
  const settings = (certificatePath: string): CredentialSettings => ({
    ...base,
    kind: 'client-certificate',
    tenantId,
    clientId: 'cert-app',
    certificatePath,
    authorityHost: kv.base,
  });

  it('gets a token with an assertion signed by the registered certificate, and writes and reads a secret with it', async () => {
    expect(credentialProblem(settings(file('app.pem')), {})).toBeUndefined();
    await putAndGet(createCredential(settings(file('app.pem')), {}, kv.ca), 'cert-laptop');
    // The app has no client secret: only a verified assertion gets a token.
    expect(tokenRequests().map((r) => r.status)).toEqual([200]);
    expect(
      vaultRequests()
        .filter((r) => r.hasAuth)
        .every((r) => r.status === 200),
    ).toBe(true);
  });

  it('is refused, once and without retries, when signed by a certificate Entra does not have for the app; the vault sees no token', async () => {
    const why = await refusedWrite(createCredential(settings(file('other.pem')), {}, kv.ca), 'cert-laptop');
    expect(why).toMatch(/invalid_client.*AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application/);
    expect(tokenRequests().map((r) => r.status)).toEqual([401]);
  });

  it("rides out a brief Entra outage (a 503 from the token endpoint): the identity library's retry gets the token and the write goes through", async () => {
    const fault = { match: (r: { path: string }) => r.path === `/${tenantId}/oauth2/v2.0/token`, status: 503, body: { error: 'temporarily_unavailable' }, times: 1 };
    kv.faults.push(fault);
    try {
      await putAndGet(createCredential(settings(file('app.pem')), {}, kv.ca), 'cert-laptop-503');
    } finally {
      kv.faults.splice(kv.faults.indexOf(fault), 1);
    }
    expect(tokenRequests().map((r) => r.status)).toEqual([503, 200]);
  });
});

describe('classify: a credential that got no token is the identity failing, not the vault', () => {
  it.each([
    ['Entra refusing the app (AuthenticationError 401)', false, new AuthenticationError(401, { error: 'invalid_client', error_description: 'AADSTS7000215' })],
    ['Entra refusing the request (AuthenticationError 400)', false, new AuthenticationError(400, { error: 'invalid_request' })],
    ['Entra throttling (AuthenticationError 429)', true, new AuthenticationError(429, { error: 'throttled' })],
    ['Entra down (AuthenticationError 503)', true, new AuthenticationError(503, { error: 'temporarily_unavailable' })],
    ['a credential that cannot run here (CredentialUnavailableError)', false, new CredentialUnavailableError('ManagedIdentityCredential: no managed identity endpoint')],
    ['an identity that needs a person (AuthenticationRequiredError)', false, new AuthenticationRequiredError({ scopes: ['https://vault.azure.net/.default'] })],
    ['every credential of a chain failed (AggregateAuthenticationError)', false, new AggregateAuthenticationError([], 'ChainedTokenCredential failed')],
  ] as const)('%s: kind credential, retried: %p', (_name, retryable, error) => {
    expect(classify(error)).toEqual({ kind: 'credential', retryable });
  });
});

describe('the local authority checks a client assertion as Entra does', () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: tokenEndpoint, iss: 'cert-app', sub: 'cert-app', jti: 'j', nbf: now, exp: now + 600 };
  const thumbprint = (pem: string, alg: 'sha1' | 'sha256') => crypto.createHash(alg).update(new crypto.X509Certificate(pem).raw).digest('base64url');
  function sign(header: Record<string, unknown>, body: Record<string, unknown>, keyPem: string): string {
    const input = [header, body].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.');
    const key = header.alg === 'PS256' ? { key: keyPem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST } : keyPem;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  }
  const check = (assertion: string) => clientAssertionProblem(assertion, 'cert-app', registered.cert, tokenEndpoint, now);

  it('accepts PS256 with x5t#S256 and RS256 with the SHA-1 x5t', () => {
    expect(check(sign({ alg: 'PS256', typ: 'JWT', 'x5t#S256': thumbprint(registered.cert, 'sha256') }, claims, registered.private))).toBeUndefined();
    expect(check(sign({ alg: 'RS256', typ: 'JWT', x5t: thumbprint(registered.cert, 'sha1') }, claims, registered.private))).toBeUndefined();
  });

  it.each([
    ['signed by another key under the registered thumbprint', { 'x5t#S256': 'registered' }, claims, 'other', /AADSTS700027: Client assertion failed signature validation/],
    ["naming another certificate's thumbprint", { 'x5t#S256': 'unregistered' }, claims, 'other', /AADSTS700027: The certificate .* is not registered/],
    ['naming no thumbprint', {}, claims, 'registered', /AADSTS700027: The certificate .* is not registered/],
    ['for another audience', { 'x5t#S256': 'registered' }, { ...claims, aud: 'https://login.example.test/other/oauth2/v2.0/token' }, 'registered', /audience/],
    ['issued by another client', { 'x5t#S256': 'registered' }, { ...claims, iss: 'someone', sub: 'someone' }, 'registered', /issuer and subject/],
    ['expired', { 'x5t#S256': 'registered' }, { ...claims, exp: now - 400 }, 'registered', /AADSTS700024/],
    ['with no expiry', { 'x5t#S256': 'registered' }, { ...claims, exp: undefined }, 'registered', /AADSTS700024/],
  ] as const)('refuses one %s', (_name, thumbs, body, signer, expected) => {
    const header: Record<string, unknown> = { alg: 'PS256', typ: 'JWT' };
    if ('x5t#S256' in thumbs) header['x5t#S256'] = thumbprint(thumbs['x5t#S256'] === 'registered' ? registered.cert : unregistered.cert, 'sha256');
    expect(check(sign(header, body, signer === 'registered' ? registered.private : unregistered.private))).toMatch(expected);
  });

  it('refuses alg none and HS256 keyed with the certificate', () => {
    const x5t = thumbprint(registered.cert, 'sha256');
    const unsigned = [{ alg: 'none', 'x5t#S256': x5t }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.';
    expect(check(unsigned)).toMatch(/signature validation/);
    const input = [{ alg: 'HS256', 'x5t#S256': x5t }, claims].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.');
    const mac = crypto.createHmac('sha256', registered.cert).update(input).digest('base64url');
    expect(check(`${input}.${mac}`)).toMatch(/signature validation/);
  });
});

describe('kind workload-identity', () => {
  // The variables the AKS webhook sets, given to the credential as its environment: process.env stays untouched.
  const env = (tokenFile: string) => ({ AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'workload-app', AZURE_FEDERATED_TOKEN_FILE: tokenFile });
  const settings: CredentialSettings = { ...base, kind: 'workload-identity' };

  it('exchanges the projected service account token for a vault token, and writes and reads a secret with it', async () => {
    const s = { ...settings, authorityHost: kv.base };
    expect(credentialProblem(s, env(file('sa-token')))).toBeUndefined();
    await putAndGet(createCredential(s, env(file('sa-token')), kv.ca), 'workload-laptop');
    expect(tokenRequests().map((r) => r.status)).toEqual([200]);
  });

  it('is refused once, and writes nothing, when the token file holds a token Entra has no federated credential for', async () => {
    const s = { ...settings, authorityHost: kv.base };
    const why = await refusedWrite(createCredential(s, env(file('other-sa-token')), kv.ca), 'workload-laptop');
    expect(why).toMatch(/AADSTS70021: No matching federated identity record found for presented assertion/);
    expect(tokenRequests().map((r) => r.status)).toEqual([401]);
  });
});

/** Sets variables for one test (MSAL and DefaultAzureCredential read process.env themselves) and puts them back. */
function withEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

describe('kind managed-identity (the App Service / Container Apps identity endpoint)', () => {
  let restore = () => {};
  beforeEach(() => {
    restore = withEnv({ IDENTITY_ENDPOINT: kv.managedIdentity.endpoint, IDENTITY_HEADER: kv.managedIdentity.header });
  });
  afterEach(() => restore());

  it('gets a token for its user-assigned identity from the endpoint, and writes and reads a secret with it', async () => {
    const settings: CredentialSettings = { ...base, kind: 'managed-identity', clientId: 'mi-user-assigned' };
    expect(credentialProblem(settings, process.env)).toBeUndefined();
    const credential = createCredential(settings, process.env, kv.ca);
    expect(credential).toBeInstanceOf(ManagedIdentityCredential);
    await putAndGet(credential, 'mi-laptop');
    // One GET carrying the platform's secret header; no call to the token authority.
    expect(identityRequests().map((r) => [r.method, r.hasAuth, r.status])).toEqual([['GET', true, 200]]);
    expect(tokenRequests()).toEqual([]);
  });

  it('is refused once, and writes nothing, for a user-assigned identity the platform does not have', async () => {
    const why = await refusedWrite(createCredential({ ...base, kind: 'managed-identity', clientId: 'not-assigned-here' }, process.env, kv.ca), 'mi-laptop');
    expect(why).toMatch(/ManagedIdentityCredential: Authentication failed.*Unable to load the proper Managed Identity/);
    expect(identityRequests().map((r) => r.status)).toEqual([400]);
  });
});

describe('kind default (DefaultAzureCredential)', () => {
  let restore = () => {};
  afterEach(() => restore());

  it('uses its EnvironmentCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) against the configured authority, and reads the vault', async () => {
    restore = withEnv({ AZURE_TENANT_ID: tenantId, AZURE_CLIENT_ID: 'env-app', AZURE_CLIENT_SECRET: 'env-app-secret' });
    const settings: CredentialSettings = { ...base, kind: 'default', authorityHost: kv.base };
    expect(credentialProblem(settings, process.env)).toBeUndefined();
    await putAndGet(createCredential(settings, process.env, kv.ca), 'default-laptop');
    expect(tokenRequests().map((r) => r.status)).toEqual([200]);
    expect(identityRequests()).toEqual([]);
  });
});
