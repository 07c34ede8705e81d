import fc from 'fast-check';
import { allowedNextVersionState, assertCanMoveVersion, credentialVersionStates } from '../../src/credentials/credential-version';
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
