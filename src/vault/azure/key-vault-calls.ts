import { isRestError } from '@azure/core-rest-pipeline';
import { backoffDelay } from '../../time/backoff';

/** How one failed Key Vault call is to be treated. */
export interface Classified {
  /** Worth another attempt: throttling, a server-side outage, a dropped or hung connection. */
  retryable: boolean;
  /** A stable, bounded label (for logs, metrics and the error the caller sees). */
  kind: 'throttled' | 'unavailable' | 'timeout' | 'network' | 'not-found' | 'disabled' | 'denied' | 'credential' | 'conflict' | 'rejected' | 'unknown';
  status?: number;
  /** What the server asked us to wait, when it said (Retry-After, retry-after-ms, x-ms-retry-after-ms). */
  retryAfterMs?: number;
}

const networkCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'REQUEST_SEND_ERROR',
]);

function header(e: { response?: { headers: { get(n: string): string | undefined } } }, name: string): string | undefined {
  return e.response?.headers.get(name) ?? undefined;
}

/** Retry-After as seconds or an HTTP date, or the millisecond variants Azure sends. */
export function retryAfterMs(get: (name: string) => string | undefined, now = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = Number(get(name));
    if (get(name) !== undefined && Number.isFinite(v) && v >= 0) return v;
  }
  const raw = get('retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sorts a failure from the SDK. Besides `RestError`s this handles what the SDK throws when a
 * response carries no JSON error body (a plain `TypeError` from its deserialiser, if our
 * empty-body policy ever missed one), aborts from our own deadlines, and socket errors.
 */
export function classify(e: unknown): Classified {
  if (e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError')) return { retryable: true, kind: 'timeout' };
  const identity = credentialFailure(e);
  if (identity) return identity;
  if (isRestError(e)) {
    const status = e.statusCode;
    if (status === undefined) {
      if (e.code && networkCodes.has(e.code)) return { retryable: true, kind: 'network' };
      return { retryable: false, kind: 'unknown' };
    }
    const after = retryAfterMs((n) => header(e as never, n));
    if (status === 429) return { retryable: true, kind: 'throttled', status, retryAfterMs: after };
    if ([408, 500, 502, 503, 504].includes(status)) return { retryable: true, kind: 'unavailable', status, retryAfterMs: after };
    if (status === 404) return { retryable: false, kind: 'not-found', status };
    // The SDK's deserialiser names it innerError; Key Vault's body innererror: look at the whole detail.
    const inner = JSON.stringify(e.details ?? '');
    if (status === 403 && inner.includes('SecretDisabled')) return { retryable: false, kind: 'disabled', status };
    if (status === 401 || status === 403) return { retryable: false, kind: 'denied', status };
    if (status === 409) return { retryable: false, kind: 'conflict', status };
    return { retryable: false, kind: 'rejected', status };
  }
  const code = (e as { code?: unknown; cause?: { code?: unknown } } | undefined)?.code ?? (e as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code === 'string' && networkCodes.has(code)) return { retryable: true, kind: 'network' };
  // The SDK's deserialiser reading `.error` of an absent body: a server answer we could not read.
  if (e instanceof TypeError) return { retryable: true, kind: 'unavailable' };
  return { retryable: false, kind: 'unknown' };
}

/**
 * The daemon's own identity got no token (@azure/identity's errors, raised before any request
 * reaches Key Vault): `credential`, so that logs and /readyz say it is the identity that fails,
 * not the vault. A configuration problem (a credential that cannot run here, a secret or
 * certificate Entra refuses) is not retried; Entra itself throttled or down (408, 429, 5xx) is.
 */
function credentialFailure(e: unknown): Classified | undefined {
  if (!(e instanceof Error)) return undefined;
  if (['CredentialUnavailableError', 'AuthenticationRequiredError', 'AggregateAuthenticationError'].includes(e.name)) return { retryable: false, kind: 'credential' };
  if (e.name !== 'AuthenticationError') return undefined;
  const status = (e as { statusCode?: unknown }).statusCode;
  const transient = typeof status === 'number' && (status === 408 || status === 429 || status >= 500);
  return { retryable: transient, kind: 'credential' };
}

/** A failed vault call, described without anything the vault or the caller sent (no values, no tokens). */
export class KeyVaultError extends Error {
  constructor(
    readonly op: string,
    readonly classified: Classified,
    readonly attempts: number,
  ) {
    super(`Key Vault ${op} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${classified.kind}${classified.status ? ` (HTTP ${classified.status})` : ''}`);
    this.name = 'KeyVaultError';
  }
}

/** What went wrong with a call, whether our retries already sorted it (KeyVaultError) or not. */
export function kindOf(e: unknown): Classified['kind'] {
  return e instanceof KeyVaultError ? e.classified.kind : classify(e).kind;
}

export interface RetrySettings {
  /** Attempts after the first. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** One attempt's limit: a hung answer is abandoned after this. */
  attemptTimeoutMs: number;
  /** The whole call's limit, waits between attempts included. */
  deadlineMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

/**
 * Runs one vault operation with a deadline and our own retries. The SDK's retries are off: it
 * has no default timeout (a hung vault would hang the daemon) and retries a 429 only when Key
 * Vault sends Retry-After, which it often does not. Waits are exponential with jitter, or what
 * the server asked for; a wait past the deadline ends the call at once.
 */
export async function withRetries<T>(
  op: string,
  settings: RetrySettings,
  attempt: (signal: AbortSignal) => Promise<T>,
  hooks: {
    /** Runs before each attempt (the write pacer), told the call's deadline; what it throws ends the call, unsent. */
    beforeAttempt?: (deadline: number) => Promise<void>;
    onRetry?: (c: Classified, attempt: number, waitMs: number) => void;
  } = {},
): Promise<T> {
  const deadline = Date.now() + settings.deadlineMs;
  for (let n = 0; ; n++) {
    const left = deadline - Date.now();
    if (left <= 0) throw new KeyVaultError(op, { retryable: true, kind: 'timeout' }, n);
    try {
      await hooks.beforeAttempt?.(deadline);
    } catch (e) {
      throw Object.assign(new KeyVaultError(op, { retryable: true, kind: 'timeout' }, n), { cause: e });
    }
    try {
      return await attempt(AbortSignal.timeout(Math.max(1, Math.min(settings.attemptTimeoutMs, deadline - Date.now()))));
    } catch (e) {
      const c = classify(e);
      if (!c.retryable || n >= settings.maxRetries) throw Object.assign(new KeyVaultError(op, c, n + 1), { cause: e });
      const wait = c.retryAfterMs ?? backoffDelay(n, { baseMs: settings.baseDelayMs, maxMs: settings.maxDelayMs, jitter: 'equal' });
      if (Date.now() + wait >= deadline) throw Object.assign(new KeyVaultError(op, c, n + 1), { cause: e });
      hooks.onRetry?.(c, n + 1, wait);
      await sleep(wait);
    }
  }
}

/** A write that could not have a slot before its deadline, or a label write shed from a full queue: nothing was sent. */
export class NoWriteSlot extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NoWriteSlot';
  }
}

/**
 * Spaces vault writes evenly so that no window of `perSeconds` holds more than `limit` of them:
 * a fleet rotating together is spread out instead of throttled. A write reserves the next free
 * slot and waits for it, unless that slot lies past its deadline (then it is refused at once and
 * sends nothing). Label writes nobody waits on (`acquireIdle`) take a slot only when no other
 * write holds the next one, one at a time in arrival order, so a burst of them never delays a
 * password write; past `maxIdleWaiting` queued, more are shed.
 */
export function createWritePacer(limit: number, perSeconds: number, now: () => number = Date.now, maxIdleWaiting = 10000) {
  const interval = (perSeconds * 1000) / limit;
  let next = 0;
  const idle: Array<{ notAfter: number; resolve: () => void; reject: (e: Error) => void }> = [];
  let pumping = false;

  async function pumpIdle(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (idle.length > 0) {
        const t = now();
        const head = idle[0] as (typeof idle)[number];
        if (head.notAfter < Math.max(t, next)) {
          idle.shift();
          head.reject(new NoWriteSlot('no free write slot before the deadline'));
        } else if (next <= t) {
          next = t + interval;
          idle.shift();
          head.resolve();
        } else {
          await sleep(next - t);
        }
      }
    } finally {
      pumping = false;
    }
  }

  return {
    async acquire(notAfter = Infinity): Promise<void> {
      const t = now();
      const slot = Math.max(t, next);
      if (slot > notAfter) throw new NoWriteSlot(`the next free write slot is ${Math.round(slot - t)} ms away, past the call's deadline`);
      next = slot + interval;
      if (slot > t) await sleep(slot - t);
    },
    acquireIdle(notAfter = Infinity): Promise<void> {
      if (idle.length >= maxIdleWaiting) return Promise.reject(new NoWriteSlot(`${maxIdleWaiting} label writes already wait`));
      return new Promise<void>((resolve, reject) => {
        idle.push({ notAfter, resolve, reject });
        void pumpIdle();
      });
    },
    /** How long a write asked for now would wait (for tests and metrics). */
    backlogMs(): number {
      return Math.max(0, next - now());
    },
    /** Label writes waiting for an idle slot. */
    idleWaiting(): number {
      return idle.length;
    },
  };
}
