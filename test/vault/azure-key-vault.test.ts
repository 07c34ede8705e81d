import fc from 'fast-check';
import pino from 'pino';
import { Writable } from 'node:stream';
import { Secret } from '../../src/secrets/secret';
import { AzureKeyVaultSettings, contentType, createAzureKeyVault, formatRef } from '../../src/vault/azure/azure-key-vault';
import { KeyVaultError, NoWriteSlot, createWritePacer, retryAfterMs } from '../../src/vault/azure/key-vault-calls';
import { deviceIdOfName, escapeDeviceId, secretName, unescapeDeviceId } from '../../src/vault/azure/secret-names';
import { FakeKeyVault, bareUnavailable, dropConnection, hang, startFakeKeyVault, throttle, unavailable } from '../support/fake-key-vault';
import { vaultContract } from './vault-contract';

const token = { getToken: async () => ({ token: 'test-token', expiresOnTimestamp: Date.now() + 3600e3 }) };

function settings(kv: FakeKeyVault, over: Partial<AzureKeyVaultSettings> = {}): AzureKeyVaultSettings {
  return {
    url: kv.base,
    naming: { prefix: 'jitbroker', versionsPerSecret: 100 },
    retry: { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20, attemptTimeoutMs: 2000, deadlineMs: 5000 },
    readDeadlineMs: 5000,
    writes: { limit: 1000, perSeconds: 1 },
    readyCacheMs: 0,
    ca: kv.ca,
    disableChallengeResourceVerification: true,
    ...over,
  };
}

function capturedLogger() {
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  return { logger, lines };
}

let kv: FakeKeyVault;
beforeAll(async () => {
  kv = await startFakeKeyVault();
});
afterAll(() => kv.close());
beforeEach(() => {
  kv.faults.length = 0;
});

vaultContract(
  'the Azure Key Vault backend (real SDK, local Key Vault server)',
  async () => ({ vault: createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) }), close: async () => {} }),
  formatRef('jitbroker-d-nobody--0', '0123456789abcdef0123456789abcdef'),
);

describe('secret names', () => {
  const naming = { prefix: 'jitbroker', versionsPerSecret: 100 };
  const deviceId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

  it('are valid Key Vault names for every device id and version', () => {
    fc.assert(
      fc.property(deviceId, fc.integer({ min: 1, max: 10_000_000 }), (id, version) => {
        const name = secretName(naming, id, version);
        expect(name).toMatch(/^[0-9a-zA-Z-]{1,127}$/);
      }),
    );
  });

  it('never collide, even ignoring case as Key Vault does', () => {
    fc.assert(
      fc.property(deviceId, deviceId, fc.integer({ min: 1, max: 1000 }), (a, b, v) => {
        fc.pre(a !== b);
        expect(secretName(naming, a, v).toLowerCase()).not.toBe(secretName(naming, b, v).toLowerCase());
      }),
    );
    // The cases a case-folding or a naive escape would merge.
    const tricky = ['PC-1', 'pc-1', 'pc_1', 'pc.1', 'pc--1', 'pc-01', 'Pc-1', 'pC-1'];
    expect(new Set(tricky.map((id) => secretName(naming, id, 1))).size).toBe(tricky.length);
  });

  it('read back to the device id when readable, and switch to a hash only when the escaped id is too long', () => {
    fc.assert(fc.property(deviceId, (id) => expect(unescapeDeviceId(escapeDeviceId(id))).toBe(id)));
    expect(secretName(naming, 'Laptop-0042.corp', 1)).toBe('jitbroker-d--laptop-00042-1corp--0');
    expect(deviceIdOfName('jitbroker', 'jitbroker-d--laptop-00042-1corp--0')).toBe('Laptop-0042.corp');
    const long = 'A'.repeat(60);
    expect(secretName(naming, long, 1)).toMatch(/^jitbroker-h-[0-9a-f]{64}--0$/);
  });

  it('start a new generation every versionsPerSecret versions, so no secret nears the 500-version backup limit', () => {
    const n = { prefix: 'jb', versionsPerSecret: 100 };
    expect(secretName(n, 'd', 1)).toBe('jb-d-d--0');
    expect(secretName(n, 'd', 100)).toBe('jb-d-d--0');
    expect(secretName(n, 'd', 101)).toBe('jb-d-d--1');
  });
});

describe('the Azure Key Vault backend', () => {
  it('stores each version as a Key Vault version tagged with device, broker version and state, with a content type; the reference names both', async () => {
    const vault = createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) });
    const ref = await vault.put({ deviceId: 'Tagged-1', version: 7 }, new Secret('pw-tagged'));
    expect(ref).toMatch(/^akv:jitbroker-d--tagged-01--0\/[0-9a-f]{32}$/);
    const stored = kv.secrets.get('jitbroker-d--tagged-01--0');
    const v = stored?.versions.at(-1);
    expect(v?.tags).toEqual({ deviceId: 'Tagged-1', brokerVersion: '7', state: 'pending', managedBy: 'jitbroker' });
    expect(v?.contentType).toBe(contentType);
    await vault.markState({ deviceId: 'Tagged-1', version: 7 }, ref, 'current');
    expect(v?.tags?.state).toBe('current');
  });

  it('refuses a reference that leads to another device or version (a swapped row cannot reveal another password)', async () => {
    const vault = createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) });
    const ref = await vault.put({ deviceId: 'victim', version: 1 }, new Secret('victim-pw'));
    await expect(vault.get({ deviceId: 'attacker', version: 1 }, ref)).rejects.toThrow(/not tagged as version 1 of this device/);
    await expect(vault.get({ deviceId: 'victim', version: 2 }, ref)).rejects.toThrow(/not tagged/);
    await expect(vault.get({ deviceId: 'victim', version: 1 }, 'local:1')).rejects.toThrow(/not a Key Vault reference/);
  });

  it('prunes by disabling a version, and deletes a generation once its last version is pruned', async () => {
    const vault = createAzureKeyVault({ credential: token, settings: settings(kv, { naming: { prefix: 'gen', versionsPerSecret: 3 } }), logger: pino({ level: 'silent' }) });
    const refs: string[] = [];
    for (let version = 1; version <= 7; version++) refs.push(await vault.put({ deviceId: 'g', version }, new Secret(`pw-${version}`)));
    expect([...kv.secrets.keys()].filter((n) => n.startsWith('gen-'))).toEqual(['gen-d-g--0', 'gen-d-g--1', 'gen-d-g--2']);
    await vault.remove({ deviceId: 'g', version: 1 }, refs[0] as string);
    expect(await vault.get({ deviceId: 'g', version: 1 }, refs[0] as string)).toBeUndefined();
    expect((await vault.get({ deviceId: 'g', version: 2 }, refs[1] as string))?.expose()).toBe('pw-2');
    await vault.remove({ deviceId: 'g', version: 2 }, refs[1] as string);
    await vault.remove({ deviceId: 'g', version: 3 }, refs[2] as string);
    expect(kv.secrets.has('gen-d-g--0')).toBe(false);
    expect((await vault.get({ deviceId: 'g', version: 4 }, refs[3] as string))?.expose()).toBe('pw-4');
    // Pruning again (a retried prune) is harmless.
    await expect(vault.remove({ deviceId: 'g', version: 3 }, refs[2] as string)).resolves.toBeUndefined();
  });

  describe('outages and throttling', () => {
    const write = (deviceId: string) => (r: { method: string; path: string }) => r.method === 'PUT' && r.path === `/secrets/${secretName(settings(kv).naming, deviceId, 1)}`;

    it('retries a 429 that carries no Retry-After (the SDK alone would not)', async () => {
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) });
      await vault.check();
      kv.faults.push(throttle(undefined, 2, write('throttled-a')));
      kv.log.length = 0;
      const ref = await vault.put({ deviceId: 'throttled-a', version: 1 }, new Secret('pw'));
      expect(ref).toMatch(/^akv:/);
      expect(kv.log.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([429, 429, 200]);
    });

    it('waits what Retry-After asks', async () => {
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) });
      await vault.check();
      kv.faults.push(throttle(1, 1, write('throttled-b')));
      const started = Date.now();
      await vault.put({ deviceId: 'throttled-b', version: 1 }, new Secret('pw'));
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(retryAfterMs((n) => ({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' })[n], Date.parse('Wed, 21 Oct 2015 07:27:58 GMT'))).toBe(2000);
      expect(retryAfterMs((n) => ({ 'retry-after-ms': '250' })[n])).toBe(250);
    });

    it('retries 503s, 503s with no body (a TypeError inside the SDK) and dropped connections', async () => {
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv), logger: pino({ level: 'silent' }) });
      await vault.check();
      kv.faults.push(unavailable(1, write('flaky')), bareUnavailable(1, write('flaky')), dropConnection(1, write('flaky')));
      kv.log.length = 0;
      await vault.put({ deviceId: 'flaky', version: 1 }, new Secret('pw'));
      expect(kv.log.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([503, 503, -1, 200]);
    });

    it('classifies a bodiless error answer by its status when retries run out, never as a bare TypeError', async () => {
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv, { retry: { ...settings(kv).retry, maxRetries: 1 } }), logger: pino({ level: 'silent' }) });
      await vault.check();
      kv.faults.push(bareUnavailable(5, write('down')));
      const e: unknown = await vault.put({ deviceId: 'down', version: 1 }, new Secret('pw')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KeyVaultError);
      expect((e as KeyVaultError).classified).toMatchObject({ kind: 'unavailable', status: 503 });
      expect((e as KeyVaultError).attempts).toBe(2);
    });

    it('abandons a hung answer after the attempt timeout and retries; gives up by the deadline', async () => {
      const vault = createAzureKeyVault({
        credential: token,
        settings: settings(kv, { retry: { maxRetries: 5, baseDelayMs: 5, maxDelayMs: 20, attemptTimeoutMs: 200, deadlineMs: 1000 } }),
        logger: pino({ level: 'silent' }),
      });
      await vault.check();
      kv.faults.push(hang(1, write('hung-once')));
      await expect(vault.put({ deviceId: 'hung-once', version: 1 }, new Secret('pw'))).resolves.toMatch(/^akv:/);
      kv.faults.push(hang(100, write('hung-always')));
      const started = Date.now();
      const e: unknown = await vault.put({ deviceId: 'hung-always', version: 1 }, new Secret('pw')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KeyVaultError);
      expect((e as KeyVaultError).classified.kind).toBe('timeout');
      // Bounded by the deadline (1 s), not hung forever: a generous margin for a loaded machine.
      expect(Date.now() - started).toBeLessThan(4000);
    });

    it('gives up on a read (a reveal waits on it) by the shorter read deadline, while a write keeps trying to its own', async () => {
      const vault = createAzureKeyVault({
        credential: token,
        settings: settings(kv, { retry: { maxRetries: 20, baseDelayMs: 5, maxDelayMs: 20, attemptTimeoutMs: 150, deadlineMs: 4000 }, readDeadlineMs: 400 }),
        logger: pino({ level: 'silent' }),
      });
      await vault.check();
      const ref = await vault.put({ deviceId: 'slow-read', version: 1 }, new Secret('pw'));
      kv.faults.push(hang(100, (r) => r.method === 'GET' && r.path.startsWith('/secrets/jitbroker-d-slow-0read--0/')));
      const e: unknown = await vault.get({ deviceId: 'slow-read', version: 1 }, ref).catch((x: unknown) => x);
      expect((e as KeyVaultError).classified.kind).toBe('timeout');
      // About 400 ms: three attempts of 150 ms at most, not the write deadline's 26.
      expect((e as KeyVaultError).attempts).toBeLessThanOrEqual(3);
      kv.faults.length = 0;
      kv.faults.push(hang(5, write('slow-write')));
      await expect(vault.put({ deviceId: 'slow-write', version: 1 }, new Secret('pw'))).resolves.toMatch(/^akv:/);
    });

    it('does not retry what retrying cannot fix (a refused token), and readiness reports it', async () => {
      const refusing = await startFakeKeyVault({ authorize: () => false });
      try {
        const vault = createAzureKeyVault({ credential: token, settings: settings(refusing), logger: pino({ level: 'silent' }) });
        const e: unknown = await vault.check().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(KeyVaultError);
        expect((e as KeyVaultError).classified).toMatchObject({ kind: 'denied', status: 401 });
        // The bare request, the one resent with the token after the challenge; no retries.
        expect(refusing.log).toHaveLength(2);
      } finally {
        await refusing.close();
      }
    });

    it('never puts a password in its log lines or errors, even while retrying', async () => {
      const { logger, lines } = capturedLogger();
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv, { retry: { ...settings(kv).retry, maxRetries: 1 } }), logger });
      await vault.check();
      kv.faults.push(unavailable(1, write('leaky')), unavailable(5, write('leaky2')));
      await vault.put({ deviceId: 'leaky', version: 1 }, new Secret('Sup3r-Secret-Value!'));
      const e: unknown = await vault.put({ deviceId: 'leaky2', version: 1 }, new Secret('An0ther-Secret-Value!')).catch((x: unknown) => x);
      expect(lines.length).toBeGreaterThan(0);
      const everything = lines.join('\n') + String(e) + JSON.stringify(e) + ((e as Error).stack ?? '');
      expect(everything).not.toContain('Sup3r-Secret-Value!');
      expect(everything).not.toContain('An0ther-Secret-Value!');
    });
  });

  describe('pacing writes below the vault limit', () => {
    it('spaces writes so no window holds more than the limit', async () => {
      let now = 0;
      const pacer = createWritePacer(300, 10, () => now);
      const slots: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const before = pacer.backlogMs();
        slots.push(now + before);
        void pacer.acquire();
      }
      for (let i = 0; i + 300 < slots.length; i++) expect((slots[i + 300] as number) - (slots[i] as number)).toBeGreaterThanOrEqual(10_000 - 1e-6);
      now = 0;
    });

    it('refuses at once, sending nothing, a write whose next free slot lies past its deadline, and keeps that slot for others', async () => {
      let now = 0;
      const pacer = createWritePacer(1, 10, () => now);
      await pacer.acquire(1000);
      expect(pacer.backlogMs()).toBe(10_000);
      await expect(pacer.acquire(9_999)).rejects.toBeInstanceOf(NoWriteSlot);
      // The refused write reserved nothing: the next slot is still the one at 10 s.
      expect(pacer.backlogMs()).toBe(10_000);
      now = 10_000;
      await expect(pacer.acquire(10_000)).resolves.toBeUndefined();

      const vault = createAzureKeyVault({
        credential: token,
        settings: settings(kv, { writes: { limit: 1, perSeconds: 10 }, retry: { ...settings(kv).retry, deadlineMs: 500 } }),
        logger: pino({ level: 'silent' }),
      });
      await vault.put({ deviceId: 'first-slot', version: 1 }, new Secret('pw'));
      const puts = () => kv.log.filter((r) => r.method === 'PUT').length;
      const before = puts();
      const e: unknown = await vault.put({ deviceId: 'no-slot', version: 1 }, new Secret('pw')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KeyVaultError);
      expect((e as KeyVaultError).classified.kind).toBe('timeout');
      expect(puts()).toBe(before);
    });

    it('gives label writes only the slots no password write wants, and sheds them past a bound', async () => {
      const pacer = createWritePacer(10, 1, Date.now, 3);
      const order: string[] = [];
      await pacer.acquire();
      const labels = [1, 2, 3].map((i) => pacer.acquireIdle().then(() => order.push(`label-${i}`)));
      await expect(pacer.acquireIdle()).rejects.toBeInstanceOf(NoWriteSlot);
      expect(pacer.idleWaiting()).toBe(3);
      const writes = [1, 2, 3].map((i) => pacer.acquire().then(() => order.push(`write-${i}`)));
      await Promise.all([...labels, ...writes]);
      expect(order).toEqual(['write-1', 'write-2', 'write-3', 'label-1', 'label-2', 'label-3']);
      // A label that cannot have an idle slot before its deadline is dropped, not sent late.
      await pacer.acquire();
      await expect(pacer.acquireIdle(Date.now() + 10)).rejects.toBeInstanceOf(NoWriteSlot);
    });

    it('spreads a burst of puts through the real backend', async () => {
      const vault = createAzureKeyVault({ credential: token, settings: settings(kv, { writes: { limit: 10, perSeconds: 1 } }), logger: pino({ level: 'silent' }) });
      await vault.check();
      const started = Date.now();
      await Promise.all(Array.from({ length: 20 }, (_, i) => vault.put({ deviceId: `paced-${i}`, version: 1 }, new Secret('pw'))));
      // 20 writes at 10 per second cannot all be done in under a second and a half.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
    });
  });
});
