/** Real time, not the domain clock: the pace is about the daemon's CPU, which a test's manual clock does not stand for. */
export interface PaceTimer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realTimer: PaceTimer = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Spaces the starts of rotation jobs at most `perSecond` a second, across all of the worker's lanes.
 * A fleet that comes due at once would otherwise be rotated as fast as the daemon can go, and the
 * agents' fetches and acknowledgements that follow each new password would fill the event loop that
 * requesters' reveals wait on. A slot not used is not saved up: after a quiet spell the next job
 * starts at once, and the one after it a gap later. `perSecond` 0 means no cap.
 */
export function createRotationPacer(perSecond: number, timer: PaceTimer = realTimer): () => Promise<void> {
  if (perSecond <= 0) return async () => undefined;
  const gapMs = 1000 / perSecond;
  let nextAt = -Infinity;
  return async () => {
    const now = timer.now();
    const at = Math.max(now, nextAt);
    nextAt = at + gapMs;
    if (at > now) await timer.sleep(at - now);
  };
}
