import { DomainError } from '../problems/problem';
export const escalationStatuses = ['submitted', 'acknowledged', 'resolved', 'rejected'] as const;
export type EscalationStatus = (typeof escalationStatuses)[number];

/** The escalation lifecycle as data. */
export const allowedNextStatus: Record<EscalationStatus, readonly EscalationStatus[]> = {
  submitted: ['acknowledged', 'rejected'],
  acknowledged: ['resolved', 'rejected'],
  resolved: [],
  rejected: [],
};

export function assertCanMoveEscalation(e: { id: string; status: EscalationStatus }, to: EscalationStatus): void {
  if (!allowedNextStatus[e.status].includes(to)) throw new DomainError('conflict', `Escalation ${e.id} is ${e.status}; it cannot become ${to}.`);
}

export interface Escalation {
  id: string;
  submitter: string;
  submitterName: string | null;
  severity: string;
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

/** An escalation as stored: where it was routed, by key. */
export type EscalationRecord = Omit<Escalation, 'routedToName'>;

/** The escalation as the filer and admins read it: its destination by name too. */
export function escalationView(e: EscalationRecord, destinations: Readonly<Record<string, string>>): Escalation {
  return {
    id: e.id,
    submitter: e.submitter,
    submitterName: e.submitterName,
    severity: e.severity,
    category: e.category,
    summary: e.summary,
    details: e.details,
    deviceId: e.deviceId,
    ticket: e.ticket,
    status: e.status,
    routedTo: e.routedTo,
    routedToName: destinations[e.routedTo] ?? e.routedTo,
    statusNote: e.statusNote,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}
