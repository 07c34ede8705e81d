import { JWK } from 'jose';
import { DeviceTable } from '../store/schema';

export interface Device {
  id: string;
  displayName: string;
  groups: string[];
  account: string;
  agentKey: JWK;
  status: 'active' | 'retired';
  createdAt: string;
  retiredAt: string | null;
}

export interface CredentialSummary {
  currentVersion: number | null;
  pendingVersion: number | null;
  lastRotatedAt: string | null;
  nextRotationDue: string | null;
}

export function deviceFromRow(r: DeviceTable): Device {
  return {
    id: r.id,
    displayName: r.display_name,
    groups: JSON.parse(r.groups) as string[],
    account: r.account,
    agentKey: JSON.parse(r.agent_key) as JWK,
    status: r.status,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  };
}
