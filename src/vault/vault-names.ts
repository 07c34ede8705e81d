/** The vault backends and Azure credential kinds by config name; kept apart so reading config loads no SDK. */
export const vaultBackendNames = ['local', 'azure-keyvault'] as const;
export type VaultBackendName = (typeof vaultBackendNames)[number];

export const credentialKinds = ['default', 'managed-identity', 'workload-identity', 'client-secret', 'client-certificate'] as const;
export type CredentialKind = (typeof credentialKinds)[number];
