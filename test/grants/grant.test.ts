import fc from 'fast-check';
import { allowedNext, assertCanMove, grantStates, isLive } from '../../src/grants/grant';
import { DomainError } from '../../src/problems/problem';

describe('the grant state machine is the allowedNext table', () => {
  it('allows exactly the moves in the table and refuses every other with a conflict', () => {
    fc.assert(
      fc.property(fc.constantFrom(...grantStates), fc.constantFrom(...grantStates), (from, to) => {
        const allowed = allowedNext[from].includes(to);
        try {
          assertCanMove({ id: 'g', state: from }, to);
          return allowed;
        } catch (e) {
          return !allowed && e instanceof DomainError && e.code === 'conflict';
        }
      }),
    );
  });

  it('ends in denied, expired or revoked, and nothing leaves them', () => {
    expect(grantStates.filter((s) => allowedNext[s].length === 0).sort()).toEqual(['denied', 'expired', 'revoked']);
  });

  it('any walk through the table reaches no state twice', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (choices) => {
        let state: (typeof grantStates)[number] = 'pending';
        const seen = new Set([state]);
        for (const c of choices) {
          const next = allowedNext[state];
          if (next.length === 0) break;
          state = next[c % next.length] as typeof state;
          if (seen.has(state)) return false;
          seen.add(state);
        }
        return true;
      }),
    );
  });

  it('is live only while active and strictly before expiresAt', () => {
    const at = new Date('2026-01-01T10:00:00.000Z');
    expect(isLive({ state: 'active', expiresAt: '2026-01-01T10:00:00.001Z' }, at)).toBe(true);
    expect(isLive({ state: 'active', expiresAt: '2026-01-01T10:00:00.000Z' }, at)).toBe(false);
    expect(isLive({ state: 'pending', expiresAt: null }, at)).toBe(false);
    expect(isLive({ state: 'revoked', expiresAt: '2027-01-01T00:00:00.000Z' }, at)).toBe(false);
  });
});
