import { AuditActor } from '../audit/audit-event';
import { AuditLog, StoredAuditEvent } from '../audit/audit-log';
import { CredentialService } from '../credentials/credential-service';
import { CredentialVersion } from '../credentials/credential-version';
import { UserPrincipal } from '../identity/principal';
import { Grant } from './grant';

export const timelineKinds = ['requested', 'approved', 'denied', 'activated', 'revealed', 'ended', 'rotation-queued', 'rotated'] as const;
export type TimelineKind = (typeof timelineKinds)[number];

export const endings = ['done', 'withdrawn', 'revoked', 'expired', 'policy'] as const;
export type Ending = (typeof endings)[number];

/** One step; fields, not sentences, so each reader (the portal in its language, a script) words it. */
export interface TimelineEntry {
  at: string;
  kind: TimelineKind;
  actor?: { subject: string; name?: string };
  /** What a person wrote: the request's reason, the approver's comment, the denial's or revocation's reason. */
  reason?: string;
  /** `ended`: how. */
  ending?: Ending;
  /** `revealed`: the version shown; `rotated`: the version the device confirmed. */
  version?: number;
  /** `rotation-queued`: when the new password is due at the latest. */
  dueBy?: string;
}

export interface GrantTimeline {
  grantId: string;
  deviceId: string;
  entries: TimelineEntry[];
}

const personOf = (a: AuditActor): TimelineEntry['actor'] => (a.kind === 'system' ? undefined : { subject: a.subject, ...(a.name ? { name: a.name } : {}) });
/** How a grant ended, from its end event: its requester's "I'm done" (or withdrawal), an admin's revocation, its expiry, or a policy change. */
function endingOf(g: Grant, e: StoredAuditEvent): Ending {
  if (e.action === 'grant.expired') return 'expired';
  if (e.actor.kind === 'system') return 'policy';
  if (e.actor.kind === 'user' && e.actor.subject === g.requester) return e.action === 'grant.revoked' && g.activatedAt === null ? 'withdrawn' : 'done';
  return 'revoked';
}

/**
 * A grant's story, in time order, from the audit events about it (the only record of who did what)
 * and the device's credential versions: requested → approved by whom (or activated at once, or
 * denied) → each reveal → ended → its post-use rotation queued → the new password confirmed by the
 * device. Refused attempts on the grant (a reveal by someone else) are not part of its story; the
 * audit log keeps them.
 */
export function timelineOf(g: Grant, events: readonly StoredAuditEvent[], rotated: CredentialVersion | undefined): GrantTimeline {
  const entries: TimelineEntry[] = [];
  const add = (e: StoredAuditEvent, kind: TimelineKind, fields: Partial<TimelineEntry> = {}) =>
    entries.push({ at: e.at, kind, ...(personOf(e.actor) ? { actor: personOf(e.actor) } : {}), ...fields });
  const reasonOf = (e: StoredAuditEvent) => (e.reason ? { reason: e.reason } : {});
  let approved = false;
  for (const e of events) {
    if (e.outcome !== 'success') continue;
    switch (e.action) {
      case 'grant.requested':
        add(e, 'requested', reasonOf(e));
        break;
      case 'grant.approved':
        approved = true;
        add(e, 'approved', reasonOf(e));
        break;
      // An approval writes grant.activated too: the approval is the entry then.
      case 'grant.activated':
        if (!approved) add(e, 'activated');
        break;
      case 'grant.password-revealed':
        add(e, 'revealed', typeof e.details?.version === 'number' ? { version: e.details.version } : {});
        break;
      case 'grant.denied':
        // A policy change that ends a pending request is no approver's decision.
        if (e.actor.kind === 'system') add(e, 'ended', { ending: 'policy', ...reasonOf(e) });
        else add(e, 'denied', reasonOf(e));
        break;
      case 'grant.revoked':
      case 'grant.expired': {
        add(e, 'ended', { ending: endingOf(g, e), ...reasonOf(e) });
        const dueBy = e.details?.rotationDueBy;
        if (typeof dueBy === 'string') entries.push({ at: e.at, kind: 'rotation-queued', dueBy });
        break;
      }
      default:
        break;
    }
  }
  if (rotated?.acknowledgedAt) {
    entries.push({ at: rotated.acknowledgedAt, kind: 'rotated', actor: { subject: g.deviceId }, version: rotated.version });
  }
  // Stable: events of one instant keep the chain's order.
  entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return { grantId: g.id, deviceId: g.deviceId, entries };
}

/** Builds grant timelines; who may see one is getGrant's rule. */
export function createGrantTimeline(deps: {
  getGrant: (p: UserPrincipal, id: string) => Promise<Grant>;
  audit: Pick<AuditLog, 'eventsAbout'>;
  credentials: Pick<CredentialService, 'firstAcknowledgedSince'>;
}) {
  /** The grant's timeline, to whoever may see the grant (its requester, approvers, admins, auditors); 404 to anyone else. */
  async function grantTimeline(p: UserPrincipal, id: string): Promise<GrantTimeline> {
    const g = await deps.getGrant(p, id);
    const events = await deps.audit.eventsAbout(g.deviceId, `grant:${g.id}`, g.createdAt);
    // Only a grant that was live used the device's password: the next one the device confirms after it ended replaced it.
    // Newer than the version it revealed: a version confirmed in the same instant the grant ended is not its replacement.
    const rotated = g.activatedAt !== null && g.endedAt !== null ? await deps.credentials.firstAcknowledgedSince(g.deviceId, g.endedAt, g.revealedVersion ?? 0) : undefined;
    return timelineOf(g, events, rotated);
  }
  return { grantTimeline };
}
