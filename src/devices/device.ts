import { JWK } from 'jose';

export const deviceStatuses = ['active', 'retired'] as const;
export type DeviceStatus = (typeof deviceStatuses)[number];

export interface Device {
  id: string;
  displayName: string;
  groups: string[];
  account: string;
  agentKey: JWK;
  status: DeviceStatus;
  createdAt: string;
  retiredAt: string | null;
}

export interface CredentialSummary {
  currentVersion: number | null;
  pendingVersion: number | null;
  lastRotatedAt: string | null;
  nextRotationDue: string | null;
}
