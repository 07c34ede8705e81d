import { IdentityProvider } from '../../src/identity/identity-provider';
import { withVerifiedTokenCache } from '../../src/identity/verified-token-cache';
import { DomainError } from '../../src/problems/problem';
import { createManualClock } from '../../src/time/clock';

describe('the verified-token cache', () => {
  const clock = createManualClock(new Date('2026-01-01T00:00:00Z'));
  const now = () => clock.now().getTime() / 1000;
  let calls = 0;
  const inner: IdentityProvider = {
    mode: 'test',
    async verify(token) {
      calls += 1;
      if (token.startsWith('bad')) throw new DomainError('unauthenticated', 'bad');
      return { principal: { kind: 'user', subject: token, roles: [], groups: [] }, expiresAt: now() + 600 };
    },
  };
  const cached = withVerifiedTokenCache(inner, { clock, maxEntries: 2, maxAgeSeconds: 300, clockSkewSeconds: 60 });
  beforeEach(() => {
    calls = 0;
  });

  it('verifies a token once and answers repeats from memory', async () => {
    await cached.verify('t1');
    await cached.verify('t1');
    expect(calls).toBe(1);
  });

  it('never remembers a failure', async () => {
    await expect(cached.verify('bad-1')).rejects.toThrow('bad');
    await expect(cached.verify('bad-1')).rejects.toThrow('bad');
    expect(calls).toBe(2);
  });

  it('re-verifies after maxAge, and refuses once exp (plus skew) has passed', async () => {
    await cached.verify('t2');
    clock.advance(301 * 1000);
    await cached.verify('t2');
    expect(calls).toBe(2);
    const expiring: IdentityProvider = { mode: 'x', verify: async (t) => ({ principal: { kind: 'user', subject: t, roles: [], groups: [] }, expiresAt: now() + 10 }) };
    let innerCalls = 0;
    const c = withVerifiedTokenCache({ mode: 'x', verify: (t) => ((innerCalls += 1), expiring.verify(t)) }, { clock, maxEntries: 5, maxAgeSeconds: 300, clockSkewSeconds: 60 });
    await c.verify('short');
    clock.advance(69 * 1000);
    await c.verify('short');
    expect(innerCalls).toBe(1);
    clock.advance(2 * 1000);
    await c.verify('short');
    expect(innerCalls).toBe(2);
  });

  it('keeps at most maxEntries, evicting the oldest', async () => {
    await cached.verify('a');
    await cached.verify('b');
    await cached.verify('c');
    expect(calls).toBe(3);
    await cached.verify('a');
    expect(calls).toBe(4);
  });

  it('is off with maxEntries 0', async () => {
    const off = withVerifiedTokenCache(inner, { clock, maxEntries: 0, maxAgeSeconds: 300, clockSkewSeconds: 60 });
    expect(off).toBe(inner);
  });
});
