import { performance } from 'node:perf_hooks';
import { Metrics, VaultOp } from '../metrics/metrics';
import { VaultBackend } from './vault-backend';

/**
 * Wraps any vault backend so every call is timed and every failure counted, labelled by the
 * backend's config name and the operation only (never an address, a reference or a secret).
 * Behaviour is unchanged: results and errors pass through as they are, and an optional method
 * (`putInTransaction`, `markState`) stays absent when the backend has none, since callers pick their
 * path by its presence (the credential service's write path, for one).
 */
export function instrumentVault(backend: VaultBackend, name: string, metrics: Pick<Metrics, 'vaultBackend' | 'vaultCall'>): VaultBackend {
  const timed =
    <A extends unknown[], R>(op: VaultOp, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      let ok = false;
      try {
        const result = await call(...args);
        ok = true;
        return result;
      } finally {
        metrics.vaultCall(name, op, (performance.now() - start) / 1000, ok);
      }
    };
  const inTransaction = backend.putInTransaction?.bind(backend);
  const markState = backend.markState?.bind(backend);
  metrics.vaultBackend(name, ['put', ...(inTransaction ? (['putInTransaction'] as const) : []), 'get', 'remove', ...(markState ? (['markState'] as const) : []), 'check']);
  return {
    put: timed('put', (address, secret) => backend.put(address, secret)),
    ...(inTransaction ? { putInTransaction: timed('putInTransaction', inTransaction) } : {}),
    get: timed('get', (address, ref) => backend.get(address, ref)),
    remove: timed('remove', (address, ref) => backend.remove(address, ref)),
    ...(markState ? { markState: timed('markState', markState) } : {}),
    check: timed('check', () => backend.check()),
  };
}
