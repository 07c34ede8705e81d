/**
 * How a backoff spreads its waits. `equal`: a random 50–100 % of the exponential delay, so callers
 * that failed together (every job of a vault outage, every agent of a fleet) do not retry together,
 * yet none retries sooner than half the delay. `none`: the delay itself.
 */
export type Jitter = 'equal' | 'none';

export interface BackoffSettings {
  /** The wait after the first failure (attempt 0). */
  baseMs: number;
  /** The longest wait, however many failures. */
  maxMs: number;
  jitter: Jitter;
}

// 2^30 times any base is past every cap a caller sets; the bound keeps the product finite (a base of 0 would make it NaN).
const maxExponent = 30;

/**
 * The wait before retry number `attempt` (0 for the first retry): baseMs·2^attempt, capped at
 * maxMs, then jittered. The one backoff formula of rotation jobs, webhook deliveries, Key Vault
 * calls, the device agent's polling and the wait for PostgreSQL at start-up.
 */
export function backoffDelay(attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const capped = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.min(Math.max(attempt, 0), maxExponent));
  return settings.jitter === 'equal' ? capped / 2 + random() * (capped / 2) : capped;
}

/**
 * The wait before retrying after the `failures`-th failure in a row (1 for the first), for the
 * retries configured in seconds (rotation jobs, webhook deliveries): base·2^(failures−1), capped at
 * max, then a random 50–100 % of it.
 */
export function retryDelayMs(failures: number, settings: { retryBaseSeconds: number; retryMaxSeconds: number }): number {
  return backoffDelay(failures - 1, { baseMs: settings.retryBaseSeconds * 1000, maxMs: settings.retryMaxSeconds * 1000, jitter: 'equal' });
}
