import { CrashWorld } from '../support/crash-world';

// Each step is crashed this many times (more with CRASH_ITERATIONS=n); the random-timing test adds variety.
const iterations = Number(process.env.CRASH_ITERATIONS ?? 3);
jest.setTimeout(300000);

/** Forces a rotation of the device and waits for the worker (1 s tick) to make its pending version. */
async function rotate(w: CrashWorld, id: string): Promise<void> {
  const r = await w.api('POST', `/v1/devices/${id}/rotate`);
  if (r.status !== 202) throw new Error(`rotate: ${r.status} ${JSON.stringify(r.body)}`);
}

async function waitForPending(w: CrashWorld, id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await w.versions(id)).some((v) => v.state === 'pending')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no pending version appeared');
}

describe('no credential is lost when the daemon is killed at any step of a rotation', () => {
  const steps: Array<{ failpoint: string; when: string; trigger: (w: CrashWorld) => Promise<void> }> = [
    { failpoint: 'rotation.after-vault-write', when: 'after the vault write, before the pending row', trigger: async () => undefined },
    { failpoint: 'rotation.after-pending', when: 'after the pending row', trigger: async () => undefined },
    { failpoint: 'fetch.after-commit', when: "after the agent's fetch is recorded, before it gets the answer", trigger: async (w) => void (await w.agent('laptop-1')) },
    { failpoint: 'ack.before-commit', when: 'after the ack made the version current, before the superseding committed', trigger: async (w) => void (await w.agent('laptop-1')) },
    { failpoint: 'ack.after-commit', when: 'after the ack committed, before the agent heard', trigger: async (w) => void (await w.agent('laptop-1')) },
  ];

  it.each(steps)('$when ($failpoint)', async ({ failpoint, trigger }) => {
    const w = new CrashWorld();
    try {
      await w.start();
      await w.enrol('laptop-1');
      await w.converge('laptop-1');
      for (let i = 0; i < iterations; i++) {
        const before = await w.versions('laptop-1');
        await w.stop();
        await w.start(failpoint);
        await rotate(w, 'laptop-1');
        if (!failpoint.startsWith('rotation.')) await waitForPending(w, 'laptop-1');
        await trigger(w);
        expect(await w.exited()).toBe('SIGKILL');
        const held = await w.deviceHoldsVaultedPassword('laptop-1');
        expect(held.detail).toMatch(/device holds version/);
        // restart without the failpoint: the rotation finishes by itself
        await w.start();
        if (failpoint === 'rotation.after-vault-write') await waitForPending(w, 'laptop-1');
        await w.converge('laptop-1');
        const after = await w.versions('laptop-1');
        expect(Math.max(...after.map((v) => v.version))).toBeGreaterThan(Math.max(...before.map((v) => v.version)));
        expect(after.filter((v) => v.state === 'current')).toHaveLength(1);
        expect((await w.deviceHoldsVaultedPassword('laptop-1')).ok).toBe(true);
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });
});

describe('no credential is lost when the agent is killed at any step', () => {
  const steps = [
    { failpoint: 'agent.after-fetch', when: 'with the password fetched, before setting it' },
    { failpoint: 'agent.after-set', when: 'after setting it, before recording that it did' },
    { failpoint: 'agent.after-state', when: 'after recording it, before acknowledging' },
    { failpoint: 'agent.after-ack', when: 'after the broker took the acknowledgement, before recording that' },
  ];

  it.each(steps)('$when ($failpoint)', async ({ failpoint }) => {
    const w = new CrashWorld();
    try {
      await w.start();
      await w.enrol('laptop-1');
      await w.converge('laptop-1');
      for (let i = 0; i < iterations; i++) {
        await rotate(w, 'laptop-1');
        await waitForPending(w, 'laptop-1');
        const r = await w.agent('laptop-1', failpoint);
        expect(r.signal).toBe('SIGKILL');
        expect((await w.deviceHoldsVaultedPassword('laptop-1')).ok).toBe(true);
        await w.converge('laptop-1');
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });
});

describe('killed at random moments while a small fleet rotates', () => {
  it('after every kill and restart, each device holds a password the vault can return, and all converge', async () => {
    const w = new CrashWorld();
    const ids = ['pc-1', 'pc-2', 'pc-3'];
    try {
      await w.start();
      for (const id of ids) await w.enrol(id);
      for (const id of ids) await w.converge(id);
      for (let round = 0; round < Math.max(3, iterations * 2); round++) {
        for (const id of ids) await rotate(w, id);
        // agents poll while the daemon is shot at a random moment of the rotation
        const agents = Promise.all(
          ids.map(async (id) => {
            for (let k = 0; k < 4; k++) {
              await w.agent(id);
              await new Promise((r) => setTimeout(r, Math.random() * 300));
            }
          }),
        );
        await new Promise((r) => setTimeout(r, Math.random() * 1500));
        await w.stop('SIGKILL');
        await agents;
        for (const id of ids) expect((await w.deviceHoldsVaultedPassword(id)).ok).toBe(true);
        await w.start();
        for (const id of ids) await w.converge(id);
        for (const id of ids) expect((await w.deviceHoldsVaultedPassword(id)).ok).toBe(true);
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });
});
