import { Secret } from '../credentials/secret';

/** Which password: a device's numbered credential version. */
export interface SecretAddress {
  deviceId: string;
  version: number;
}

/** A small interface every vault backend meets (local, Azure Key Vault). */
export interface VaultBackend {
  /** Stores the password durably; returns the backend's reference, kept in the broker's tables. */
  put(address: SecretAddress, secret: Secret): Promise<string>;
  /** The password behind a reference, or undefined when the vault has none. */
  get(address: SecretAddress, ref: string): Promise<Secret | undefined>;
  /** Throws when the vault cannot be used (for /readyz). */
  check(): Promise<void>;
}
