import fc from 'fast-check';
import { CredentialVersion, allowedNextVersionState, assertCanMoveVersion, credentialVersionStates, versionsToShow } from '../../src/credentials/credential-version';
import { DomainError } from '../../src/problems/problem';

describe('the credential version lifecycle is the allowedNextVersionState table', () => {
  it('allows exactly the moves in the table and refuses every other with a conflict', () => {
    fc.assert(
      fc.property(fc.constantFrom(...credentialVersionStates), fc.constantFrom(...credentialVersionStates), (from, to) => {
        const allowed = allowedNextVersionState[from].includes(to);
        try {
          assertCanMoveVersion({ deviceId: 'pc-1', version: 1, state: from }, to);
          return allowed;
        } catch (e) {
          return !allowed && e instanceof DomainError && e.code === 'conflict';
        }
      }),
    );
  });

  it('only a pending version is acknowledged (current) or fails; only the current one is superseded', () => {
    const into = (to: string) => credentialVersionStates.filter((s) => (allowedNextVersionState[s] as readonly string[]).includes(to));
    expect(into('current')).toEqual(['pending']);
    expect(into('failed')).toEqual(['pending']);
    expect(into('superseded')).toEqual(['current']);
    expect(into('pending')).toEqual([]);
  });

  it('ends in superseded or failed, and nothing leaves them', () => {
    expect(credentialVersionStates.filter((s) => allowedNextVersionState[s].length === 0).sort()).toEqual(['failed', 'superseded']);
  });
});

describe('which version a reveal shows', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const version = (v: number, state: CredentialVersion['state'], fetchedAt: string | null = null): CredentialVersion => ({
    deviceId: 'pc-1',
    version: v,
    state,
    reason: 'scheduled',
    vaultRef: `ref-${v}`,
    createdAt: '2026-01-01T00:00:00Z',
    fetchedAt,
    acknowledgedAt: null,
    supersededAt: null,
    error: null,
    vaultPrunedAt: null,
    revealedAt: null,
  });

  it('shows the current version, and beside it a pending one fetched at least ackTimeout ago', () => {
    const current = version(1, 'current');
    const late = version(2, 'pending', '2026-01-01T11:50:00Z');
    expect(versionsToShow([current], now, 300)).toEqual({ shown: current, pending: undefined, alsoPending: undefined });
    expect(versionsToShow([current, late], now, 300)).toEqual({ shown: current, pending: late, alsoPending: late });
    expect(versionsToShow([current, version(2, 'pending', '2026-01-01T11:58:00Z')], now, 300).alsoPending).toBeUndefined();
  });

  it('with no current version, shows a pending one past ackTimeout, and none the agent has not fetched', () => {
    const late = version(2, 'pending', '2026-01-01T11:50:00Z');
    expect(versionsToShow([late], now, 300)).toEqual({ shown: late, pending: late, alsoPending: undefined });
    expect(versionsToShow([version(2, 'pending')], now, 300).shown).toBeUndefined();
  });
});
