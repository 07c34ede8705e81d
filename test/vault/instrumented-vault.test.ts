import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Secret } from '../../src/secrets/secret';
import { createMetrics } from '../../src/metrics/metrics';
import { migrate, openSqlite } from '../../src/store/database';
import { createTransactor } from '../../src/store/transactor';
import { systemClock } from '../../src/time/clock';
import { instrumentVault } from '../../src/vault/instrumented-vault';
import { createLocalVault } from '../../src/vault/local/local-vault';
import { VaultBackend } from '../../src/vault/vault-backend';
import { vaultContract } from './vault-contract';

async function value(metrics: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const found = (metric?.values as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }> | undefined)?.find(
    (v) => (v.metricName === undefined || v.metricName === name || v.metricName === `${name}_count`) && Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value;
}

const address = { deviceId: 'laptop-1', version: 1 };

/** A remote-style backend (no putInTransaction) whose every call fails like an unreachable vault. */
function unreachable(): VaultBackend {
  const down = () => Promise.reject(new Error('ECONNREFUSED vault.example'));
  return { put: down, get: down, remove: down, check: down };
}

vaultContract('the local vault, instrumented', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-vault-'));
  const { db } = openSqlite(path.join(dir, 'jitbroker.db'));
  await migrate(db);
  const transactor = createTransactor(db, { maxBatch: 64, maxBatchMs: 10 });
  const vault = instrumentVault(createLocalVault({ db, dataDir: dir, clock: systemClock, transactor }), 'local', createMetrics({ now: () => new Date() }));
  return {
    vault,
    close: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('instrumentVault', () => {
  it('counts a failing call as an error, times it, and passes the error through unchanged', async () => {
    const metrics = createMetrics({ now: () => new Date() });
    const vault = instrumentVault(unreachable(), 'azure-keyvault', metrics);
    await expect(vault.put(address, new Secret('Correct-Horse-1'))).rejects.toThrow('ECONNREFUSED vault.example');
    await expect(vault.get(address, 'ref-1')).rejects.toThrow('ECONNREFUSED');
    await expect(vault.get(address, 'ref-1')).rejects.toThrow('ECONNREFUSED');
    await expect(vault.check()).rejects.toThrow('ECONNREFUSED');
    expect(await value(metrics, 'jitbroker_vault_errors_total', { backend: 'azure-keyvault', op: 'put' })).toBe(1);
    expect(await value(metrics, 'jitbroker_vault_errors_total', { backend: 'azure-keyvault', op: 'get' })).toBe(2);
    expect(await value(metrics, 'jitbroker_vault_errors_total', { backend: 'azure-keyvault', op: 'check' })).toBe(1);
    expect(await value(metrics, 'jitbroker_vault_errors_total', { backend: 'azure-keyvault', op: 'remove' })).toBe(0);
    expect(await value(metrics, 'jitbroker_vault_call_seconds', { backend: 'azure-keyvault', op: 'get' })).toBe(2);
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('laptop-1');
    expect(text).not.toContain('ref-1');
    expect(text).not.toContain('Correct-Horse-1');
  });

  it('counts a call that succeeds (even with nothing found) as no error', async () => {
    const metrics = createMetrics({ now: () => new Date() });
    const inner: VaultBackend = { ...unreachable(), get: () => Promise.resolve(undefined) };
    const vault = instrumentVault(inner, 'local', metrics);
    await expect(vault.get(address, 'ref-1')).resolves.toBeUndefined();
    expect(await value(metrics, 'jitbroker_vault_call_seconds', { backend: 'local', op: 'get' })).toBe(1);
    expect(await value(metrics, 'jitbroker_vault_errors_total', { backend: 'local', op: 'get' })).toBe(0);
  });

  it('leaves optional methods out when the backend has none, and keeps putInTransaction (bound) when it has', async () => {
    const metrics = createMetrics({ now: () => new Date() });
    const remote = instrumentVault(unreachable(), 'remote', metrics);
    expect('putInTransaction' in remote).toBe(false);
    expect(remote.putInTransaction).toBeUndefined();
    expect('markState' in remote).toBe(false);

    const local = {
      ...unreachable(),
      prefix: 'local:',
      async putInTransaction(this: { prefix: string }, _tx: unknown, a: { version: number }) {
        return `${this.prefix}${a.version}`;
      },
    };
    const wrapped = instrumentVault(local as unknown as VaultBackend, 'local', metrics);
    expect(await wrapped.putInTransaction?.({} as never, address, new Secret('x'))).toBe('local:1');
    expect(await value(metrics, 'jitbroker_vault_call_seconds', { backend: 'local', op: 'putInTransaction' })).toBe(1);
  });
});
