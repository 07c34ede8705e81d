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

/** Why this credential cannot be made, or undefined: checked at start-up, before the daemon listens. */
export function credentialProblem(c: CredentialSettings, env: NodeJS.ProcessEnv): string | undefined {
  if ((c.kind === 'client-secret' || c.kind === 'client-certificate') && (!c.tenantId || !c.clientId)) {
    return `vault.azure.credential: kind ${c.kind} needs tenantId and clientId`;
  }
  if (c.kind === 'client-secret' && !env[c.clientSecretEnv]) {
    return `vault.azure.credential: kind client-secret reads the secret from the environment variable ${c.clientSecretEnv}, which is not set`;
  }
  if (c.kind === 'client-certificate') {
    if (!c.certificatePath) return 'vault.azure.credential: kind client-certificate needs certificatePath (a PEM with the private key)';
    try {
      fs.accessSync(c.certificatePath, fs.constants.R_OK);
    } catch {
      return `vault.azure.credential.certificatePath ${c.certificatePath}: cannot be read`;
    }
  }
  if (c.kind === 'workload-identity' && !env.AZURE_FEDERATED_TOKEN_FILE && !c.clientId) {
    return 'vault.azure.credential: kind workload-identity needs the AZURE_* variables the workload identity webhook sets (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID)';
  }
  return undefined;
}

/** The @azure/identity credential the config names; `ca` is trusted for its token calls only. */
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
      return new WorkloadIdentityCredential({ ...common, ...(c.tenantId ? { tenantId: c.tenantId } : {}), ...(c.clientId ? { clientId: c.clientId } : {}) });
    case 'default':
      return new DefaultAzureCredential({
        ...common,
        ...(c.tenantId ? { tenantId: c.tenantId } : {}),
        ...(c.clientId ? { managedIdentityClientId: c.clientId } : {}),
      });
  }
}
