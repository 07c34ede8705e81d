import { CrashWorld } from '../support/crash-world';
import { waitUntil } from '../support/wait-until';

// Each step is crashed this many times (more with CRASH_ITERATIONS=n). Even runs kill exactly at
// the step; odd runs kill a random 0–250 ms after it, while the process goes on working, so the
// crash lands anywhere in what follows. The random-timing fleet test adds variety.
// Each test is a world of its own (its data dir, its daemon on its own port, its agents), so they
// run side by side: most of a world's time is spent waiting, on its rotation worker's tick and on
// processes starting, and one after another they made this the longest file of the suite.
const iterations = Number(process.env.CRASH_ITERATIONS ?? 3);
jest.setTimeout(300000 + iterations * 60000);

/** The failpoint setting for run `i`: exact, or a random delay after the step. */
function killAt(failpoint: string, i: number): string {
  return i % 2 === 0 ? failpoint : `${failpoint}@${Math.floor(Math.random() * 250)}`;
}

/** Forces a rotation of the device; the 202 means the job is committed. */
async function rotate(w: CrashWorld, id: string): Promise<void> {
  const r = await w.api('POST', `/v1/devices/${id}/rotate`);
  if (r.status !== 202) throw new Error(`rotate: ${r.status} ${JSON.stringify(r.body)}`);
}

async function waitForPending(w: CrashWorld, id: string): Promise<void> {
  await waitUntil(`a pending version of ${id}`, async () => (await w.versions(id)).some((v) => v.state === 'pending'), { timeoutMs: 10000, intervalMs: 100 });
}

describe('no credential is lost when the daemon is killed at any step of a rotation', () => {
  const agentRuns = async (w: CrashWorld) => void (await w.agent('laptop-1'));
  const steps: Array<{ failpoint: string; when: string; trigger: (w: CrashWorld) => Promise<void> }> = [
    { failpoint: 'rotation.after-vault-write', when: 'after the vault write, before the pending row', trigger: async () => undefined },
    { failpoint: 'rotation.after-pending', when: 'after the pending row', trigger: async () => undefined },
    { failpoint: 'fetch.after-commit', when: "after the agent's fetch is recorded, before it gets the answer", trigger: agentRuns },
    { failpoint: 'ack.received', when: 'after the agent set the password, before its acknowledgement is recorded', trigger: agentRuns },
    { failpoint: 'ack.before-commit', when: 'after the ack made the version current, before the superseding committed', trigger: agentRuns },
    { failpoint: 'ack.after-commit', when: 'after the ack committed, before the agent heard', trigger: agentRuns },
  ];

  it.concurrent.each(steps)('$when ($failpoint)', async ({ failpoint, trigger }) => {
    const w = new CrashWorld();
    try {
      await w.start();
      await w.enrol('laptop-1');
      await w.converge('laptop-1');
      for (let i = 0; i < iterations; i++) {
        const before = await w.currentVersion('laptop-1');
        await w.stop();
        await w.start(killAt(failpoint, i));
        await rotate(w, 'laptop-1');
        if (!failpoint.startsWith('rotation.')) await waitForPending(w, 'laptop-1');
        await trigger(w);
        expect(await w.exited()).toBe('SIGKILL');
        const held = await w.deviceHoldsVaultedPassword('laptop-1');
        expect(held.detail).toMatch(/device holds version/);
        // restart without the failpoint: the rotation finishes by itself
        await w.start();
        await w.converge('laptop-1');
        const after = await w.versions('laptop-1');
        // The forced rotation was committed (202) before the kill: it is never lost.
        expect(await w.currentVersion('laptop-1')).toBeGreaterThan(before);
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

  it.concurrent.each(steps)('$when ($failpoint)', async ({ failpoint }) => {
    const w = new CrashWorld();
    try {
      await w.start();
      await w.enrol('laptop-1');
      await w.converge('laptop-1');
      for (let i = 0; i < iterations; i++) {
        const before = await w.currentVersion('laptop-1');
        await rotate(w, 'laptop-1');
        await waitForPending(w, 'laptop-1');
        const r = await w.agent('laptop-1', killAt(failpoint, i));
        expect(r.signal).toBe('SIGKILL');
        expect((await w.deviceHoldsVaultedPassword('laptop-1')).ok).toBe(true);
        await w.converge('laptop-1');
        expect(await w.currentVersion('laptop-1')).toBeGreaterThan(before);
        expect((await w.deviceHoldsVaultedPassword('laptop-1')).ok).toBe(true);
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });
});

describe('killed at random moments while a small fleet rotates', () => {
  it.concurrent('after every kill and restart, each device holds a password the vault can return, and every forced rotation finishes', async () => {
    const w = new CrashWorld();
    const ids = ['pc-1', 'pc-2', 'pc-3'];
    try {
      await w.start();
      for (const id of ids) await w.enrol(id);
      for (const id of ids) await w.converge(id);
      for (let round = 0; round < Math.max(3, iterations * 2); round++) {
        const before = await Promise.all(ids.map((id) => w.currentVersion(id)));
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
        // Every forced rotation was committed (202) before the kill: each device moved on.
        const after = await Promise.all(ids.map((id) => w.currentVersion(id)));
        expect(ids.filter((_, k) => (after[k] as number) <= (before[k] as number))).toEqual([]);
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });
});
