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

/** The shortest grant the portal offers (its duration steps are 15 minutes): what "may elevate here" is judged by. */
export const shortestRequestSeconds = 15 * 60;

/** What a principal may ask for on a device before they ask: the form's limits, or why nothing. */
export interface Eligibility {
  allowed: boolean;
  /** Why not: `decide`'s own refusal of the shortest request. */
  reason?: string;
  /** The longest grant any designating policy allows. */
  maxDuration?: string;
  maxDurationSeconds?: number;
  /** True only when every designating policy requires a ticket (one that does not accepts a request without). */
  requireTicket: boolean;
  /** The pattern a ticket must match, when every designating policy holds the same one. */
  ticketPattern?: string;
  /** True only when every designating policy needs a second person (else one that does not is used). */
  requireApproval: boolean;
}

/**
 * Pure, beside `decide` and agreeing with it: allowed exactly when `decide` would accept a 15-minute
 * request on a device of these groups (with a ticket matching the pattern shown), and `decide`
 * refuses every duration above `maxDurationSeconds`. Policies whose maximum is shorter than 15 minutes
 * cannot serve the portal's shortest request and are left out of the form's limits.
 */
export function eligibility(policies: readonly Policy[], p: Designee, deviceGroups: readonly string[]): Eligibility {
  const serving = policies.filter(
    (pol) => pol.enabled && designates(pol, p) && pol.deviceGroups.some((g) => deviceGroups.includes(g)) && (parseDurationSeconds(pol.maxDuration) ?? 0) >= shortestRequestSeconds,
  );
  const first = serving[0];
  if (!first) {
    const d = decide(policies, p, { deviceGroups, durationSeconds: shortestRequestSeconds });
    return { allowed: false, reason: d.allow ? 'No policy allows a request of 15 minutes.' : d.reason, requireTicket: false, requireApproval: false };
  }
  const longest = serving.reduce((a, b) => ((parseDurationSeconds(b.maxDuration) ?? 0) > (parseDurationSeconds(a.maxDuration) ?? 0) ? b : a), first);
  const patterns = new Set(serving.map((pol) => pol.ticketPattern));
  const [onlyPattern] = patterns;
  return {
    allowed: true,
    maxDuration: longest.maxDuration,
    maxDurationSeconds: parseDurationSeconds(longest.maxDuration) ?? 0,
    requireTicket: serving.every((pol) => pol.requireTicket),
    // One pattern shown only when it binds every route to a grant: a policy without one (or with another) accepts other tickets.
    ...(patterns.size === 1 && onlyPattern !== undefined ? { ticketPattern: onlyPattern } : {}),
    requireApproval: serving.every((pol) => pol.requireApproval),
  };
}
