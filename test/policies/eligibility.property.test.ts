import fc from 'fast-check';
import { Role, roles } from '../../src/identity/principal';
import { Policy, decide, eligibility } from '../../src/policies/policy';

/**
 * Issue 19: the portal shows whether a requester may elevate on a device, and the form's limits,
 * before they ask. What it shows must be what `decide` then does, or the form offers requests the
 * broker refuses (or hides ones it would allow).
 */
const groups = ['helpdesk', 'desk-2', 'sales'];
const deviceGroupNames = ['finance-laptops', 'hr-laptops', 'kiosks'];
// RE2 patterns and a ticket each matches whole (and no other pattern here does).
const examples: Record<string, string> = { 'INC[0-9]{3}': 'INC123', 'CHG[0-9]{3}': 'CHG456', 'RITM-[a-z]+': 'RITM-ab' };
const durations = ['PT5M', 'PT14M59S', 'PT15M', 'PT30M', 'PT1H', 'PT4H', 'P1D'];

const policyArb = fc.record({
  principals: fc.record({ groups: fc.subarray(groups), roles: fc.subarray([...roles]), subjects: fc.subarray(['alice', 'bob']) }, { requiredKeys: [] }),
  deviceGroups: fc.subarray(deviceGroupNames, { minLength: 1 }),
  maxDuration: fc.constantFrom(...durations),
  requireTicket: fc.boolean(),
  ticketPattern: fc.option(fc.constantFrom(...Object.keys(examples)), { nil: undefined }),
  requireApproval: fc.boolean(),
  enabled: fc.boolean(),
});
const principalArb = fc.record({ subject: fc.constantFrom('alice', 'bob', 'carol'), groups: fc.subarray(groups), roles: fc.subarray([...roles]) as fc.Arbitrary<Role[]> });

describe('eligibility agrees with decide', () => {
  it('allowed exactly when decide accepts 15 minutes with a fitting ticket; every duration past maxDurationSeconds is refused', () => {
    fc.assert(
      fc.property(
        fc.array(policyArb, { maxLength: 5 }),
        principalArb,
        fc.subarray(deviceGroupNames),
        fc.integer({ min: 1, max: 86400 }),
        (drafts, principal, deviceGroups, beyond) => {
          const policies: Policy[] = drafts.map((d, i) => {
            const { ticketPattern, ...rest } = d;
            return { id: `p${i}`, name: `p${i}`, createdAt: 'x', updatedAt: 'x', ...rest, ...(ticketPattern ? { ticketPattern } : {}) };
          });
          const e = eligibility(policies, principal, deviceGroups);
          const ask = (durationSeconds: number, ticket?: string) => decide(policies, principal, { deviceGroups, durationSeconds, ticket });
          // Every ticket anyone could fit: none, a free-form one, one matching each pattern.
          const tickets = [undefined, 'T-1', ...Object.values(examples)];
          if (e.ticketPattern !== undefined) {
            expect(ask(900, examples[e.ticketPattern]).allow).toBe(e.allowed);
          } else {
            expect(tickets.some((t) => ask(900, t).allow)).toBe(e.allowed);
          }
          if (!e.allowed) {
            expect(e.reason).toBe((ask(900) as { reason: string }).reason);
            return;
          }
          expect(e.maxDurationSeconds).toBeGreaterThanOrEqual(900);
          // The form's longest choice is accepted, and nothing longer is, whatever the ticket.
          expect(tickets.some((t) => ask(e.maxDurationSeconds as number, t).allow)).toBe(true);
          for (const t of tickets) expect(ask((e.maxDurationSeconds as number) + beyond, t).allow).toBe(false);
          // No ticket needed: a request without one passes.
          if (!e.requireTicket) expect(ask(900).allow).toBe(true);
          else expect(ask(900).allow).toBe(false);
          // No approval needed: some request goes live at once.
          if (!e.requireApproval) expect(tickets.some((t) => ask(900, t).allow && !(ask(900, t) as { requireApproval: boolean }).requireApproval)).toBe(true);
          else for (const t of tickets) expect((ask(900, t) as { allow: boolean; requireApproval?: boolean }).requireApproval ?? true).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('names the refusal decide gives when no policy designates the principal', () => {
    const e = eligibility([], { subject: 'alice', groups: ['helpdesk'], roles: ['requester'] }, ['finance-laptops']);
    expect(e).toEqual({ allowed: false, reason: "No policy designates you for device group 'finance-laptops'.", requireTicket: false, requireApproval: false });
  });
});
