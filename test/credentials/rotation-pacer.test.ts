import { UserPrincipal } from '../../src/identity/principal';
import { PaceTimer, createRotationPacer } from '../../src/credentials/rotation-pacer';
import { createTestApp } from '../support/test-app';

/** A timer whose time moves only when a caller sleeps or the test says so; it records every sleep. */
function fakeTimer(): PaceTimer & { t: number; sleeps: number[] } {
  const timer = {
    t: 1000,
    sleeps: [] as number[],
    now: () => timer.t,
    sleep: async (ms: number) => {
      timer.sleeps.push(ms);
    },
  };
  return timer;
}

describe('rotation.maxPerSecond: the worker starts at most that many rotation jobs a second', () => {
  it('spaces starts requested together by 1/maxPerSecond, across lanes', async () => {
    const timer = fakeTimer();
    const pace = createRotationPacer(10, timer);
    // Five lanes ask at the same instant: the first goes now, each next one 100 ms after the one before.
    await Promise.all(Array.from({ length: 5 }, () => pace()));
    expect(timer.sleeps).toEqual([100, 200, 300, 400]);
  });

  it('does not save up slots over a quiet spell: after one, the next job starts at once and the one after a gap later', async () => {
    const timer = fakeTimer();
    const pace = createRotationPacer(4, timer);
    await pace();
    timer.t += 60_000;
    await pace();
    await pace();
    expect(timer.sleeps).toEqual([250]);
  });

  it('0 means no cap', async () => {
    const timer = fakeTimer();
    const pace = createRotationPacer(0, timer);
    await Promise.all(Array.from({ length: 100 }, () => pace()));
    expect(timer.sleeps).toEqual([]);
  });

  it('the daemon’s worker keeps the cap and still rotates every due device', async () => {
    const h = await createTestApp({ JITBROKER_ROTATION_MAX_PER_SECOND: '5' });
    try {
      const admin: UserPrincipal = { kind: 'user', subject: 'admin-1', roles: ['admin'], groups: [] };
      const ctx = { requestId: 'pacer' };
      const ids = ['pace-1', 'pace-2', 'pace-3', 'pace-4'];
      for (const id of ids) {
        const key = await h.enrolDevice(id, ['fleet']);
        await h.ackPending(id, key);
        await h.devices.rotateDevice(admin, id, ctx);
      }
      const started = performance.now();
      expect(await h.rotations.runDueJobs()).toBe(4);
      // Four starts at 5 a second are three gaps of 200 ms apart: the worker cannot be done sooner.
      expect(performance.now() - started).toBeGreaterThanOrEqual(590);
      const pending = await h.db.selectFrom('credential_versions').select('device_id').where('state', '=', 'pending').execute();
      expect(pending.map((r) => r.device_id).sort()).toEqual(ids);
    } finally {
      await h.close();
    }
  });
});
