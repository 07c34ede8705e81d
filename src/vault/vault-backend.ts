import { Secret } from '../secrets/secret';
import { Tx } from '../store/transactor';

/** Which password: a device's numbered credential version. */
export interface SecretAddress {
  deviceId: string;
  version: number;
}

/** A small interface every vault backend meets (local, Azure Key Vault). */
export interface VaultBackend {
  /**
   * Stores the password durably; returns the backend's reference, kept in the broker's tables.
   * Writing an address again replaces what an earlier write left there: that happens only when a
   * rotation died between its vault write and its pending row, so nothing references the old one.
   */
  put(address: SecretAddress, secret: Secret): Promise<string>;
  /**
   * A vault kept in the broker's own store writes inside the caller's transaction, so a new
   * password and its pending row commit together (or not at all). Remote vaults leave this out.
   */
  putInTransaction?(tx: Tx, address: SecretAddress, secret: Secret): Promise<string>;
  /** The password behind a reference, or undefined when the vault has none. */
  get(address: SecretAddress, ref: string): Promise<Secret | undefined>;
  /** Removes a version no device can hold any more (past rotation.history); a vault that cannot delete disables it. */
  remove(address: SecretAddress, ref: string): Promise<void>;
  /**
   * Records a version's broker state where people reading the vault can see it (Key Vault tags).
   * Best effort: the broker's tables stay the truth. Vaults without such metadata leave it out.
   */
  markState?(address: SecretAddress, ref: string, state: 'current' | 'superseded' | 'failed'): Promise<void>;
  /** Throws when the vault cannot be used (for /readyz). */
  check(): Promise<void>;
}
