import { backoffDelay } from '../../src/time/backoff';

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
