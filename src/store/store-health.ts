import { Logger } from 'pino';
import { Clock } from '../time/clock';
import { causeChain, storeOutageCode } from './store-fault';

/** How often a cause that keeps failing is logged again while it lasts. */
const remindEveryMs = 60_000;

/** A bounded label for a failure that is not an outage: its SQLite, SQLSTATE or errno code, else `other`. */
function failureLabel(error: unknown): string {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(SQLITE_[A-Z_]+|[0-9A-Z]{5}|E[A-Z]+)$/.test(code)) return code;
  }
  return 'other';
}

/**
 * What the daemon knows of its store's health between requests: every commit that failed is
 * counted by cause; an outage (storeOutageCode) is logged once per cause, not once per request
 * (again only after a commit succeeded in between, or once a minute while it lasts); and
 * readiness fails from a commit that failed for an outage until one succeeds, since reads alone
 * still pass on a store that takes no writes (a full disk, a read-only file system).
 */
export function createStoreHealth(deps: { logger: Logger; clock: Clock; metrics: { storeCommitFailure(code: string): void } }) {
  const loggedAt = new Map<string, number>();
  let failing: { code: string; commits: number; since: string } | undefined;
  let probing: Promise<void> | undefined;

  function logOnce(code: string, error: unknown, what: string): void {
    const now = deps.clock.now().getTime();
    const last = loggedAt.get(code);
    if (last !== undefined && now - last < remindEveryMs) return;
    loggedAt.set(code, now);
    deps.logger.error({ cause: code, err: error, ...(last !== undefined ? { still: true } : {}) }, `the store is unavailable: ${what}`);
  }

  return {
    /** A transaction (or a unit's write in it) did not commit: counted; an outage is logged once per cause and fails readiness. */
    commitFailed(error: unknown): void {
      const code = storeOutageCode(error);
      deps.metrics.storeCommitFailure(code ?? failureLabel(error));
      if (!code) return;
      logOnce(code, error, 'a commit failed');
      if (failing) failing = { ...failing, code, commits: failing.commits + 1 };
      else failing = { code, commits: 1, since: deps.clock.now().toISOString() };
    },
    /** A transaction committed: the store takes writes again. */
    committed(): void {
      if (!failing && loggedAt.size === 0) return;
      if (failing) deps.logger.warn({ cause: failing.code, failedCommits: failing.commits, since: failing.since }, 'the store commits again');
      failing = undefined;
      loggedAt.clear();
    },
    /** A read or a connection failed: an outage is logged once per cause. Whether `error` was one. */
    unavailable(error: unknown): boolean {
      const code = storeOutageCode(error);
      if (code) logOnce(code, error, 'a store call failed');
      return code !== undefined;
    },
    /**
     * For readiness: resolves while commits succeed. After a commit that failed for an outage it
     * runs `probe` (a real write, through the transactor; one at a time) so that a node that no
     * longer gets traffic, because it is not ready, still finds out when the store takes writes again.
     */
    async check(probe: () => Promise<unknown>): Promise<void> {
      if (!failing) return;
      probing ??= probe().then(
        () => {
          probing = undefined;
        },
        (e: unknown) => {
          probing = undefined;
          throw e;
        },
      );
      await probing;
    },
    /** The cause and count of commits failing now, for the probe's audit event; undefined when they succeed. */
    failure(): { code: string; commits: number; since: string } | undefined {
      return failing;
    },
  };
}

export type StoreHealth = ReturnType<typeof createStoreHealth>;
