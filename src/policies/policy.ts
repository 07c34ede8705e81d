import { Role, UserPrincipal } from '../identity/principal';
import { parseDurationSeconds } from '../time/duration';
import { ticketMatches } from './ticket-pattern';

export interface Policy {
  id: string;
  name: string;
  principals: { groups?: string[]; roles?: Role[]; subjects?: string[] };
  deviceGroups: string[];
  maxDuration: string;
  requireTicket: boolean;
  ticketPattern?: string;
  requireApproval: boolean;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ElevationRequest {
  deviceGroups: readonly string[];
  durationSeconds: number;
  ticket?: string;
}

export type Decision = { allow: true; policy: Policy; requireApproval: boolean } | { allow: false; reason: string };

/** Who a policy designates by: a signed-in principal, or a grant's requester as their request was decided. */
export type Designee = Pick<UserPrincipal, 'subject' | 'groups' | 'roles'>;

function designates(policy: Policy, p: Designee): boolean {
  const { groups = [], roles = [], subjects = [] } = policy.principals;
  return groups.some((g) => p.groups.includes(g)) || roles.some((r) => (p.roles as readonly string[]).includes(r)) || subjects.includes(p.subject);
}

/** Why one policy that designates the principal for the device still refuses this request, or undefined. */
function refusal(policy: Policy, req: ElevationRequest): string | undefined {
  const max = parseDurationSeconds(policy.maxDuration) ?? 0;
  if (req.durationSeconds > max) return `policy '${policy.name}' allows at most ${policy.maxDuration}`;
  if (policy.requireTicket && !req.ticket) return `policy '${policy.name}' requires a ticket`;
  if (policy.ticketPattern && req.ticket !== undefined && !ticketMatches(policy.ticketPattern, req.ticket)) {
    return `policy '${policy.name}' requires a ticket matching ${policy.ticketPattern}`;
  }
  return undefined;
}

/**
 * Pure decision. Designations add up, like eligible assignments in PIM: the request is allowed
 * when any enabled policy designating the principal for one of the device's groups accepts it;
 * among those, one that needs no second person is used.
 */
export function decide(policies: readonly Policy[], p: Designee, req: ElevationRequest): Decision {
  const relevant = policies.filter((pol) => pol.enabled && designates(pol, p) && pol.deviceGroups.some((g) => req.deviceGroups.includes(g)));
  if (relevant.length === 0) {
    return {
      allow: false,
      reason: `No policy designates you for device group${req.deviceGroups.length === 1 ? '' : 's'} ${req.deviceGroups.map((g) => `'${g}'`).join(', ') || '(none)'}.`,
    };
  }
  const accepting = relevant.filter((pol) => refusal(pol, req) === undefined);
  if (accepting.length === 0) {
    return { allow: false, reason: `The request does not meet any policy that designates you: ${relevant.map((pol) => refusal(pol, req)).join('; ')}.` };
  }
  const chosen = accepting.find((pol) => !pol.requireApproval) ?? (accepting[0] as Policy);
  return { allow: true, policy: chosen, requireApproval: chosen.requireApproval };
}

/**
 * Whether the policies as they are now still allow a grant decided earlier: on approval, on every
 * reveal, and for each open grant when a policy is disabled, deleted or narrowed. Besides what
 * `decide` asks, an active grant that no second person approved needs a policy that asks for none:
 * a policy that now requires approval does not cover a grant that went live without it.
 */
export function decideGrant(policies: readonly Policy[], requester: Designee, grant: ElevationRequest & { approved: boolean }): Decision {
  const d = decide(policies, requester, grant);
  if (d.allow && d.requireApproval && !grant.approved) {
    return { allow: false, reason: `policy '${d.policy.name}' now requires a second person's approval, and this grant had none.` };
  }
  return d;
}
