/** The shapes the portal reads from the daemon's API (the README and /openapi.json are the contract). */

export type Role = 'requester' | 'approver' | 'admin' | 'auditor';

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
  groups: string[];
  account: string;
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

export interface TimelineEntry {
  at: string;
  kind: TimelineKind;
  actor?: { subject: string; name?: string };
  detail?: string;
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
