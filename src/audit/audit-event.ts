import crypto from 'node:crypto';
import { AuditAction } from './audit-actions';

export type AuditOutcome = 'success' | 'denied' | 'failure';

export interface AuditActor {
  kind: 'user' | 'device' | 'system' | 'anonymous';
  subject: string;
  name?: string;
  tenant?: string;
}

/** Where a request came from; on every event of that request. */
export interface RequestContext {
  /** Minted by the daemon, unique: what the request-id filter and the logs find it by. */
  requestId: string;
  /**
   * The X-Request-Id the client sent, if sane: the client's word only, never unique. Absent from
   * events written before it existed, and then absent from their hashed form too, so they verify.
   */
  clientRequestId?: string;
  clientAddress?: string;
  userAgent?: string;
}

export interface AuditInput {
  actor: AuditActor;
  action: AuditAction;
  outcome: AuditOutcome;
  deviceId?: string;
  target?: string;
  reason?: string;
  details?: Record<string, string | number | boolean | null>;
  context?: RequestContext;
}

/** The event as hashed: everything but its own hash. */
export interface AuditEvent extends AuditInput {
  seq: number;
  at: string;
  prevHash: string;
}

export const genesisHash = '0'.repeat(64);

/** Sorted keys, no whitespace, undefined dropped: one byte string per event, whatever built it. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

// crypto.hash (Node.js 20.12 and later) hashes a short string in one call, about twice as fast as a
// Hash object: it runs once per event on every append and every verify. Earlier 20.x builds get the object.
const oneShot = typeof crypto.hash === 'function' ? crypto.hash : undefined;

export function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}
