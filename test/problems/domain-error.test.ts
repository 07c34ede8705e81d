import { DomainError } from '../../src/problems/problem';

describe('DomainError', () => {
  it('carries its options for the error handler: cause, field errors, already audited, challenge', () => {
    const cause = new Error('disk full');
    const e = new DomainError('unauthenticated', 'sign in again', {
      cause,
      errors: [{ path: 'body.x', message: 'bad' }],
      alreadyAudited: true,
      challenge: 'Bearer error="insufficient_claims"',
    });
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'unauthenticated', message: 'sign in again', name: 'DomainError', alreadyAudited: true, challenge: 'Bearer error="insufficient_claims"' });
    expect(e.cause).toBe(cause);
    expect(e.errors).toEqual([{ path: 'body.x', message: 'bad' }]);
  });

  it('without options: not audited, no cause, no errors, no challenge', () => {
    const e = new DomainError('conflict', 'already decided');
    expect(e.alreadyAudited).toBe(false);
    expect('cause' in e).toBe(false);
    expect(e.errors).toBeUndefined();
    expect(e.challenge).toBeUndefined();
  });
});
