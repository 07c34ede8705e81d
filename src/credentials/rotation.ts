import { RotationJobOutcome, RotationJobState, RotationReason } from './credential-version';

/** The rotation settings, in seconds (configuration converts its durations once). */
export interface RotationSettings {
  maxAgeSeconds: number;
  /** Fraction of maxAge by which each next due time is pulled earlier at random. */
  jitter: number;
  ackTimeoutSeconds: number;
  /** Superseded versions kept in the vault for recovery. */
  history: number;
  concurrency: number;
  /** Rotation jobs started per second at most, across all lanes (0: no cap). */
  maxPerSecond: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  /** Failures in a row after which a device is flagged. */
  flagAfter: number;
  /** How long a worker holds a job it took; a worker that died lets it go after this. */
  leaseSeconds: number;
}

/** What went wrong, for the job row and the audit: the message and its cause's, never a value. */
export function describeFailure(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  return (cause instanceof Error ? `${msg} (${cause.message})` : msg).slice(0, 500);
}

/** A durable rotation job: one open job per device at most; done when it rotated, merged or was cancelled. */
export interface RotationJob {
  id: string;
  deviceId: string;
  reason: RotationReason;
  dueAt: string;
  attempts: number;
  lastError: string | null;
  state: RotationJobState;
  createdAt: string;
  /** Held by a worker until then; a worker that died lets it go when this passes. */
  claimedUntil: string | null;
  doneAt: string | null;
  outcome: RotationJobOutcome | null;
}
