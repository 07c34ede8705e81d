import { Secret } from '../../src/secrets/secret';
import { VaultBackend } from '../../src/vault/vault-backend';

/** What every vault backend must do, run against each implementation. */
/** `missingRef`: a reference of this backend's form that leads nowhere. */
export function vaultContract(name: string, open: () => Promise<{ vault: VaultBackend; close: () => Promise<void> }>, missingRef = 'local:9'): void {
  describe(`${name} meets the vault contract`, () => {
    let vault: VaultBackend;
    let close: () => Promise<void>;
    beforeEach(async () => {
      ({ vault, close } = await open());
    });
    afterEach(async () => {
      await close();
    });

    it('returns what was put, by address and reference', async () => {
      const ref = await vault.put({ deviceId: 'laptop-1', version: 1 }, new Secret('Correct-Horse-1'));
      expect((await vault.get({ deviceId: 'laptop-1', version: 1 }, ref))?.expose()).toBe('Correct-Horse-1');
    });

    it('keeps the versions of one device side by side', async () => {
      const r1 = await vault.put({ deviceId: 'laptop-1', version: 1 }, new Secret('first'));
      const r2 = await vault.put({ deviceId: 'laptop-1', version: 2 }, new Secret('second'));
      expect((await vault.get({ deviceId: 'laptop-1', version: 1 }, r1))?.expose()).toBe('first');
      expect((await vault.get({ deviceId: 'laptop-1', version: 2 }, r2))?.expose()).toBe('second');
    });

    it('keeps devices apart', async () => {
      const a = await vault.put({ deviceId: 'a', version: 1 }, new Secret('for-a'));
      const b = await vault.put({ deviceId: 'b', version: 1 }, new Secret('for-b'));
      expect((await vault.get({ deviceId: 'a', version: 1 }, a))?.expose()).toBe('for-a');
      expect((await vault.get({ deviceId: 'b', version: 1 }, b))?.expose()).toBe('for-b');
    });

    it('answers undefined for a version it never stored', async () => {
      expect(await vault.get({ deviceId: 'nobody', version: 9 }, missingRef)).toBeUndefined();
    });

    it('passes its readiness check', async () => {
      await expect(vault.check()).resolves.toBeUndefined();
    });
  });
}
