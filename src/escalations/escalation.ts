import { DomainError } from '../problems/problem';
import { EscalationTable } from '../store/schema';

export type EscalationStatus = EscalationTable['status'];
export const escalationStatuses = ['submitted', 'acknowledged', 'resolved', 'rejected'] as const satisfies readonly EscalationStatus[];

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

export function escalationFromRow(r: EscalationTable, destinations: Readonly<Record<string, string>>): Escalation {
  return {
    id: r.id,
    submitter: r.submitter,
    submitterName: r.submitter_name,
    severity: r.severity,
    category: r.category,
    summary: r.summary,
    details: r.details,
    deviceId: r.device_id,
    ticket: r.ticket,
    status: r.status,
    routedTo: r.routed_to,
    routedToName: destinations[r.routed_to] ?? r.routed_to,
    statusNote: r.status_note,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
