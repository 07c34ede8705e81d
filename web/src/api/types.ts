/** The shapes the portal reads from the daemon's API (the README and /openapi.json are the contract). */

export const allRoles = ['requester', 'approver', 'admin', 'auditor'] as const;
export type Role = (typeof allRoles)[number];

export interface Principal {
  subject: string;
  name?: string;
  roles: Role[];
  groups: string[];
}

export type SessionInfo =
  | { signedIn: false; identityMode: 'local' | 'oidc'; signInPath: string }
  | { signedIn: true; identityMode: 'local' | 'oidc'; principal: Principal; csrfToken: string; expiresAt: string };

export type GrantState = 'pending' | 'active' | 'denied' | 'expired' | 'revoked';

export interface Grant {
  id: string;
  state: GrantState;
  deviceId: string;
  requester: string;
  requesterName: string | null;
  reason: string;
  ticket: string | null;
  duration: string;
  createdAt: string;
  activatedAt: string | null;
  expiresAt: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionComment: string | null;
  endedBy: string | null;
  endedAt: string | null;
  endReason: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface Eligibility {
  allowed: boolean;
  reason?: string;
  maxDuration?: string;
  maxDurationSeconds?: number;
  requireTicket: boolean;
  ticketPattern?: string;
  requireApproval: boolean;
  openGrant?: { id: string; state: GrantState };
}

export interface DeviceMatch {
  id: string;
  displayName: string;
  /** Only for a device the caller may elevate on, or asked for before. */
  groups?: string[];
  account?: string;
  recent: boolean;
  lastRequestedAt: string | null;
  eligibility: Eligibility;
}

export interface Reveal {
  deviceId: string;
  account: string;
  password: string;
  version: number;
  expiresAt: string;
  unconfirmed?: boolean;
  possiblyInEffect?: { version: number; password: string; fetchedAt: string };
  changedSinceLastReveal?: { previousVersion: number };
}

export type TimelineKind = 'requested' | 'approved' | 'denied' | 'activated' | 'revealed' | 'ended' | 'rotation-queued' | 'rotated';

export type Ending = 'done' | 'withdrawn' | 'revoked' | 'expired' | 'policy';

export interface TimelineEntry {
  at: string;
  kind: TimelineKind;
  actor?: { subject: string; name?: string };
  reason?: string;
  ending?: Ending;
  version?: number;
  dueBy?: string;
}

export interface Timeline {
  grantId: string;
  deviceId: string;
  entries: TimelineEntry[];
}

export type EscalationStatus = 'submitted' | 'acknowledged' | 'resolved' | 'rejected';

export interface Escalation {
  id: string;
  submitter: string;
  submitterName: string | null;
  severity: 'C';
  category: string;
  summary: string;
  details: string | null;
  deviceId: string | null;
  ticket: string | null;
  status: EscalationStatus;
  routedTo: string;
  routedToName: string;
  statusNote: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface EscalationRouting {
  mayFile: boolean;
  reason?: string;
  severities: ['C'];
  categories: Array<{ category: string; routedTo: string; routedToName: string }>;
  otherwise: { routedTo: string; routedToName: string };
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: { kind: string; subject: string; name?: string };
  action: string;
  outcome: 'success' | 'denied' | 'failure';
  target?: string | null;
  deviceId?: string | null;
  reason?: string | null;
  details?: Record<string, unknown>;
  requestId?: string | null;
  hash: string;
  prevHash: string;
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  headHash: string;
  checkpoints?: number;
  signedThroughSeq?: number;
  unsignedEvents?: number;
  firstBadSeq?: number;
  problem?: string;
}

export interface DeviceView {
  id: string;
  displayName: string;
  groups: string[];
  account: string;
  status: 'active' | 'retired';
  createdAt: string;
  retiredAt: string | null;
  credential: { currentVersion: number | null; pendingVersion: number | null; lastRotatedAt: string | null; nextRotationDue: string | null };
  rotation: {
    failing: boolean;
    failures: number;
    lastError: string | null;
    ackOverdue: boolean;
    queued: { jobId: string; reason: string; dueAt: string; attempts: number } | null;
  };
}

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
  grantsEnded?: number;
}
