import { Policy, decide } from '../../src/policies/policy';
import { UserPrincipal } from '../../src/identity/principal';

const policy = (p: Partial<Policy>): Policy => ({
  id: p.name ?? 'p',
  name: 'p',
  principals: { groups: ['helpdesk'] },
  deviceGroups: ['finance-laptops'],
  maxDuration: 'PT4H',
  requireTicket: false,
  requireApproval: false,
  enabled: true,
  createdAt: 'x',
  updatedAt: 'x',
  ...p,
});
const alice: UserPrincipal = { kind: 'user', subject: 'alice', roles: ['requester'], groups: ['helpdesk'] };
const req = (r: Partial<{ deviceGroups: string[]; durationSeconds: number; ticket: string }> = {}) => ({ deviceGroups: ['finance-laptops'], durationSeconds: 3600, ...r });

describe('policy decisions are pure and explain themselves', () => {
  it.each([
    ['no policy at all', [], req(), false, /No policy designates you for device group 'finance-laptops'/],
    ['a policy for another device group', [policy({ deviceGroups: ['hr-laptops'] })], req(), false, /No policy designates/],
    ['a disabled policy', [policy({ enabled: false })], req(), false, /No policy designates/],
    ['a policy for another group', [policy({ principals: { groups: ['sales'] } })], req(), false, /No policy designates/],
    ['a matching group', [policy({})], req(), true, undefined],
    ['a matching subject', [policy({ principals: { subjects: ['alice'] } })], req(), true, undefined],
    ['a matching role', [policy({ principals: { roles: ['requester'] } })], req(), true, undefined],
    ['too long a grant', [policy({ maxDuration: 'PT30M' })], req(), false, /allows at most PT30M/],
    ['no ticket where one is required', [policy({ requireTicket: true })], req(), false, /requires a ticket/],
    ['a ticket off the pattern', [policy({ ticketPattern: '^INC\\d+$' })], req({ ticket: 'CHG1' }), false, /matching/],
    ['a ticket on the pattern', [policy({ requireTicket: true, ticketPattern: '^INC\\d+$' })], req({ ticket: 'INC1' }), true, undefined],
    ['one of several device groups', [policy({})], req({ deviceGroups: ['kiosks', 'finance-laptops'] }), true, undefined],
  ] as const)('%s', (_name, policies, request, allow, reason) => {
    const d = decide(policies as readonly Policy[], alice, { ...request, deviceGroups: [...request.deviceGroups] });
    expect(d.allow).toBe(allow);
    if (!d.allow && reason) expect(d.reason).toMatch(reason);
  });

  it('designations add up: the request passes when any policy accepts it, preferring one without approval', () => {
    const strict = policy({ id: 'strict', name: 'strict', requireApproval: true, maxDuration: 'PT8H' });
    const loose = policy({ id: 'loose', name: 'loose', maxDuration: 'PT1H' });
    const short = decide([strict, loose], alice, req({ durationSeconds: 1800 }));
    expect(short).toMatchObject({ allow: true, requireApproval: false, policy: { id: 'loose' } });
    const long = decide([strict, loose], alice, req({ durationSeconds: 6 * 3600 }));
    expect(long).toMatchObject({ allow: true, requireApproval: true, policy: { id: 'strict' } });
  });

  it('lists every reason when all designating policies refuse', () => {
    const d = decide([policy({ name: 'a', maxDuration: 'PT10M' }), policy({ name: 'b', requireTicket: true })], alice, req());
    expect(d).toEqual({ allow: false, reason: expect.stringMatching(/policy 'a' allows at most PT10M; policy 'b' requires a ticket/) });
  });
});
