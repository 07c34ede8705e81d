import { backoffDelay, retryDelayMs } from '../../src/time/backoff';

describe('backoffDelay', () => {
  const low = () => 0;
  const high = () => 0.999999;

  it('doubles from the base on each attempt and stops at the cap', () => {
    const s = { baseMs: 250, maxMs: 5000, jitter: 'none' } as const;
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, s))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
  });

  it('with equal jitter, waits between half the delay and the whole of it', () => {
    const s = { baseMs: 1000, maxMs: 60000, jitter: 'equal' } as const;
    expect(backoffDelay(0, s, low)).toBe(500);
    expect(backoffDelay(0, s, high)).toBeCloseTo(1000, 0);
    expect(backoffDelay(3, s, low)).toBe(4000);
    expect(backoffDelay(10, s, low)).toBe(30000);
    expect(backoffDelay(10, s, high)).toBeLessThanOrEqual(60000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, s);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('stays finite and capped however many attempts, and treats a negative attempt as the first', () => {
    const s = { baseMs: 1, maxMs: 86400000, jitter: 'none' } as const;
    expect(backoffDelay(5000, s)).toBe(86400000);
    expect(backoffDelay(1e9, { baseMs: 0, maxMs: 10, jitter: 'none' })).toBe(0);
    expect(backoffDelay(-1, { baseMs: 100, maxMs: 1000, jitter: 'none' })).toBe(100);
  });
});

describe('retryDelayMs', () => {
  it('waits base·2^(failures−1) seconds, capped, then 50–100 % of it: the first failure waits about the base', () => {
    const s = { retryBaseSeconds: 30, retryMaxSeconds: 3600 };
    for (let i = 0; i < 50; i++) {
      const first = retryDelayMs(1, s);
      expect(first).toBeGreaterThanOrEqual(15000);
      expect(first).toBeLessThanOrEqual(30000);
      const third = retryDelayMs(3, s);
      expect(third).toBeGreaterThanOrEqual(60000);
      expect(third).toBeLessThanOrEqual(120000);
      expect(retryDelayMs(40, s)).toBeLessThanOrEqual(3600000);
    }
  });
});
