import crypto from 'node:crypto';
import fs from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import { ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import { CredentialKind } from '../vault-names';

export interface CredentialSettings {
  kind: CredentialKind;
  tenantId?: string;
  clientId?: string;
  /** The environment variable holding the client secret: never the secret itself in a config file. */
  clientSecretEnv: string;
  certificatePath?: string;
  /** Another cloud's or a test's token authority; instance discovery is then off (it only knows Microsoft's hosts). */
  authorityHost?: string;
}

const key = 'vault.azure.credential';

// What DefaultAzureCredential accepts in AZURE_TOKEN_CREDENTIALS; anything else makes its constructor throw.
const tokenCredentialsValues = [
  'prod',
  'dev',
  'environmentcredential',
  'workloadidentitycredential',
  'managedidentitycredential',
  'visualstudiocodecredential',
  'azureclicredential',
  'azurepowershellcredential',
  'azuredeveloperclicredential',
];

/**
 * Why this credential cannot be made, or undefined: checked at start-up, before the daemon
 * listens, so a wrong setting stops it with one line naming the key instead of failing the first
 * vault call. Only what can be known without a network call is checked.
 */
export function credentialProblem(c: CredentialSettings, env: NodeJS.ProcessEnv): string | undefined {
  // A certificate path with another kind is ignored by it: the operator meant something else.
  if (c.certificatePath !== undefined && c.kind !== 'client-certificate') {
    return `${key}.certificatePath is set, but kind ${c.kind} does not use it (only kind client-certificate does)`;
  }
  switch (c.kind) {
    case 'client-secret':
      return (
        registeredAppProblem(c) ??
        (env[c.clientSecretEnv] ? undefined : `${key}.clientSecretEnv: kind client-secret reads the secret from the environment variable ${c.clientSecretEnv}, which is not set`)
      );
    case 'client-certificate':
      if (registeredAppProblem(c)) return registeredAppProblem(c);
      if (!c.certificatePath) return `${key}.certificatePath is required with kind client-certificate (a PEM file holding the certificate and its private key)`;
      return certificateProblem(c.certificatePath);
    case 'workload-identity':
      return workloadIdentityProblem(c, env);
    case 'managed-identity':
      // The platform says where its identity endpoint is (App Service, Container Apps, Arc); else the credential uses IMDS.
      if (env.IDENTITY_ENDPOINT !== undefined && !URL.canParse(env.IDENTITY_ENDPOINT)) {
        return `IDENTITY_ENDPOINT ${env.IDENTITY_ENDPOINT}: not a URL; kind managed-identity calls it for tokens`;
      }
      return undefined;
    case 'default': {
      const only = env.AZURE_TOKEN_CREDENTIALS?.trim().toLowerCase();
      if (only && !tokenCredentialsValues.includes(only)) {
        return `AZURE_TOKEN_CREDENTIALS ${env.AZURE_TOKEN_CREDENTIALS}: kind default (DefaultAzureCredential) accepts only ${tokenCredentialsValues.join(', ')}`;
      }
      return undefined;
    }
  }
}

/** An application registration's credential (secret or certificate) is tied to one tenant and one client id. */
function registeredAppProblem(c: CredentialSettings): string | undefined {
  if (!c.tenantId) return `${key}.tenantId is required with kind ${c.kind} (the directory the application is registered in)`;
  if (!c.clientId) return `${key}.clientId is required with kind ${c.kind} (the application's client id)`;
  return undefined;
}

/**
 * The file ClientCertificateCredential reads: a PEM with the certificate first (its thumbprint
 * names the key to Entra) and an unencrypted RSA private key that belongs to it (the assertion is
 * RS256/PS256, and the config has no certificate password).
 */
function certificateProblem(file: string): string | undefined {
  const at = `${key}.certificatePath ${file}`;
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `${at}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const block = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!block) return `${at}: holds no PEM certificate; the file must hold the certificate and its private key, in PEM`;
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(block);
  } catch {
    return `${at}: its certificate cannot be parsed`;
  }
  if (!/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/.test(pem)) {
    return `${at}: holds no private key; the file must hold the certificate and its private key, in PEM`;
  }
  // PKCS#8 and the older OpenSSL form mark an encrypted key in the PEM itself (Node's error for it varies by version).
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)) {
    return `${at}: its private key is encrypted; jitbroker takes no certificate password, so give an unencrypted key and protect the file by its permissions`;
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(pem);
  } catch {
    return `${at}: its private key cannot be parsed`;
  }
  if (privateKey.asymmetricKeyType !== 'rsa') return `${at}: its key is ${privateKey.asymmetricKeyType}; the client assertion is signed RS256/PS256, which needs an RSA key`;
  if (!cert.checkPrivateKey(privateKey)) return `${at}: its private key does not belong to its certificate (the first one in the file)`;
  if (Date.parse(cert.validTo) <= Date.now()) return `${at}: its certificate expired on ${cert.validTo}; Entra refuses assertions signed with it`;
  return undefined;
}

/** Workload identity (AKS): the webhook sets AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE; the config may name the ids instead. */
function workloadIdentityProblem(c: CredentialSettings, env: NodeJS.ProcessEnv): string | undefined {
  if (!(c.tenantId ?? env.AZURE_TENANT_ID)) return `${key}.tenantId is required with kind workload-identity when AZURE_TENANT_ID is not set`;
  if (!(c.clientId ?? env.AZURE_CLIENT_ID)) return `${key}.clientId is required with kind workload-identity when AZURE_CLIENT_ID is not set`;
  const file = env.AZURE_FEDERATED_TOKEN_FILE;
  if (!file) {
    return `${key}: kind workload-identity reads the service account token from the file named by AZURE_FEDERATED_TOKEN_FILE, which is not set (the workload identity webhook sets it for a pod labelled azure.workload.identity/use: "true")`;
  }
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `AZURE_FEDERATED_TOKEN_FILE ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); kind workload-identity reads the service account token from it`;
  }
  if (!token.trim()) return `AZURE_FEDERATED_TOKEN_FILE ${file}: is empty; kind workload-identity reads the service account token from it`;
  return undefined;
}

/**
 * The @azure/identity credential the config names; `ca` is trusted for its token calls only.
 * Workload identity takes its ids and token file from `env`; ManagedIdentityCredential (MSAL) and
 * DefaultAzureCredential read process.env themselves.
 */
export function createCredential(c: CredentialSettings, env: NodeJS.ProcessEnv, ca?: string): TokenCredential {
  const common = {
    ...(c.authorityHost ? { authorityHost: c.authorityHost, disableInstanceDiscovery: true } : {}),
    ...(ca ? { tlsOptions: { ca } } : {}),
  };
  switch (c.kind) {
    case 'client-secret':
      return new ClientSecretCredential(c.tenantId as string, c.clientId as string, env[c.clientSecretEnv] as string, common);
    case 'client-certificate':
      return new ClientCertificateCredential(c.tenantId as string, c.clientId as string, { certificatePath: c.certificatePath as string }, common);
    case 'managed-identity':
      return c.clientId ? new ManagedIdentityCredential({ ...common, clientId: c.clientId }) : new ManagedIdentityCredential(common);
    case 'workload-identity':
      return new WorkloadIdentityCredential({
        ...common,
        tenantId: c.tenantId ?? env.AZURE_TENANT_ID,
        clientId: c.clientId ?? env.AZURE_CLIENT_ID,
        tokenFilePath: env.AZURE_FEDERATED_TOKEN_FILE,
      });
    case 'default':
      return new DefaultAzureCredential({
        ...common,
        ...(c.tenantId ? { tenantId: c.tenantId } : {}),
        ...(c.clientId ? { managedIdentityClientId: c.clientId } : {}),
      });
  }
}
