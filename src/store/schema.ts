import { Generated } from 'kysely';
// The schema describes how the domains persist: it names their states and reasons by the domains'
// own types, never the other way round (a domain rule must not change because a column did).
import { CredentialVersionState, RotationJobOutcome, RotationJobState, RotationReason } from '../credentials/credential-version';
import { DeviceStatus } from '../devices/device';
import { EscalationStatus } from '../escalations/escalation';
import { GrantState } from '../grants/grant';
import { DeliveryState } from '../webhooks/webhook-delivery';

// Times are RFC 3339 UTC strings: they sort as text and read the same on SQLite and PostgreSQL.
export interface DeviceTable {
  id: string;
  display_name: string;
  groups: string; // JSON array
  account: string;
  agent_key: string; // JSON public JWK
  /** RFC 7638 thumbprint of agent_key, unique: one agent key, one device. NULL only for a duplicate enrolled before 006. */
  agent_key_thumbprint: string | null;
  status: DeviceStatus;
  created_at: string;
  retired_at: string | null;
  last_rotated_at: string | null;
  next_due: string | null;
  rotation_failures: number;
  rotation_error: string | null;
}

export interface PolicyTable {
  id: string;
  name: string;
  principals: string; // JSON {groups?, roles?, subjects?}
  device_groups: string; // JSON array
  max_duration: string;
  require_ticket: number;
  ticket_pattern: string | null;
  require_approval: number;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface GrantTable {
  id: string;
  requester: string;
  requester_name: string | null;
  device_id: string;
  reason: string;
  ticket: string | null;
  duration: string;
  state: GrantState;
  policy_id: string;
  created_at: string;
  activated_at: string | null;
  expires_at: string | null;
  decided_by: string | null;
  decided_at: string | null;
  decision_comment: string | null;
  ended_by: string | null;
  ended_at: string | null;
  end_reason: string | null;
  requester_groups: string | null; // JSON array, as the request was decided
  requester_roles: string | null; // JSON array
  requester_logins: string | null; // JSON array of normalised sign-in names
  revealed_version: number | null;
}

export interface CredentialVersionTable {
  device_id: string;
  version: number;
  state: CredentialVersionState;
  reason: RotationReason;
  vault_ref: string;
  created_at: string;
  fetched_at: string | null;
  acknowledged_at: string | null;
  superseded_at: string | null;
  error: string | null;
  vault_pruned_at: string | null;
  /** When a requester was first shown this version while it was pending (a used password, though unconfirmed). */
  revealed_at: string | null;
}

export interface RotationJobTable {
  id: string;
  device_id: string;
  reason: RotationReason;
  due_at: string;
  attempts: number;
  last_error: string | null;
  state: RotationJobState;
  created_at: string;
  claimed_until: string | null;
  done_at: string | null;
  outcome: RotationJobOutcome | null;
}

export interface VaultSecretTable {
  name: string;
  version: number;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
  created_at: string;
}

export interface AgentTokenTable {
  jti: string;
  device_id: string;
  expires_at: string;
}

/** A portal sign-in; the id itself is only in the browser's cookie (see migration 008). */
export interface PortalSessionTable {
  id_hash: string;
  subject: string;
  /** The UserPrincipal the sign-in verified, as JSON. */
  principal: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  ended_at: string | null;
  ended_reason: string | null;
  /** Until when the principal's authContexts (Entra acrs) count: the access token's exp (migration 009). */
  auth_contexts_until: string | null;
}

/** An Entra sign-in begun and not yet finished (migration 009): single use, ten minutes. */
export interface PortalSignInTable {
  state_hash: string;
  nonce: string;
  code_verifier: string;
  return_to: string;
  auth_context: string | null;
  /** The id hash of the session the sign-in replaces, if the browser held one. */
  replaces_session: string | null;
  created_at: string;
  expires_at: string;
}

export interface AuditEventTable {
  seq: Generated<number>;
  at: string;
  actor: string;
  action: string;
  outcome: 'success' | 'denied' | 'failure';
  device_id: string | null;
  target: string | null;
  request_id: string | null;
  canonical: string;
  prev_hash: string;
  hash: string;
}

export interface EscalationTable {
  id: string;
  submitter: string;
  submitter_name: string | null;
  severity: string;
  category: string;
  summary: string;
  details: string | null;
  device_id: string | null;
  ticket: string | null;
  status: EscalationStatus;
  routed_to: string;
  status_note: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookDeliveryTable {
  id: string;
  event: string;
  url: string;
  payload: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface Database {
  devices: DeviceTable;
  policies: PolicyTable;
  grants: GrantTable;
  credential_versions: CredentialVersionTable;
  rotation_jobs: RotationJobTable;
  vault_secrets: VaultSecretTable;
  agent_tokens: AgentTokenTable;
  audit_events: AuditEventTable;
  escalations: EscalationTable;
  webhook_deliveries: WebhookDeliveryTable;
  portal_sessions: PortalSessionTable;
  portal_sign_ins: PortalSignInTable;
}
