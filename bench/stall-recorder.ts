/**
 * Preloaded into the daemon by `BENCH_STALLS=1 npm run bench:rotation` (node --require): records
 * what fills the event loop's stalls, which a CPU profile cannot show (it sees busy periods, not
 * loop turns).
 *
 * A 5 ms timer notes each time it fires more than 25 ms late, and what ran since it last fired:
 * requests started, COMMITs and their time, other SQLite statements and their time, and GC time.
 * The summary is written to $JITBROKER_BENCH_STALLS_FILE when the daemon exits.
 */
import fs from 'node:fs';
import http from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';

interface Counts {
  requests: number;
  commits: number;
  commitMs: number;
  statements: number;
  statementMs: number;
  gcMs: number;
}

export interface Stall extends Counts {
  /** When the late timer fired (epoch ms). */
  at: number;
  gapMs: number;
}

const out = process.env.JITBROKER_BENCH_STALLS_FILE;
if (out) {
  const counts: Counts = { requests: 0, commits: 0, commitMs: 0, statements: 0, statementMs: 0, gcMs: 0 };
  const emit = http.Server.prototype.emit as (this: http.Server, event: string, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'request') counts.requests += 1;
    return emit.call(this, event, ...args);
  } as typeof http.Server.prototype.emit;
  // Every statement the daemon prepares is timed where it runs.
  const prepare = BetterSqlite3.prototype.prepare;
  BetterSqlite3.prototype.prepare = function (this: BetterSqlite3.Database, source: string) {
    const statement = prepare.call(this, source);
    const commit = /^\s*commit/i.test(source);
    for (const method of ['run', 'all', 'get'] as const) {
      const run = statement[method].bind(statement) as (...a: unknown[]) => unknown;
      (statement as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
        const t0 = process.hrtime.bigint();
        try {
          return run(...a);
        } finally {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          if (commit) {
            counts.commits += 1;
            counts.commitMs += ms;
          } else {
            counts.statements += 1;
            counts.statementMs += ms;
          }
        }
      };
    }
    return statement;
  } as typeof prepare;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) counts.gcMs += e.duration;
  }).observe({ entryTypes: ['gc'] });

  const stalls: Stall[] = [];
  let last = process.hrtime.bigint();
  let before = { ...counts };
  setInterval(() => {
    const now = process.hrtime.bigint();
    const gapMs = Number(now - last) / 1e6;
    last = now;
    if (gapMs > 25) {
      const since = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - before[k as keyof Counts]])) as unknown as Counts;
      stalls.push({ at: Date.now(), gapMs, ...since });
    }
    before = { ...counts };
  }, 5).unref();
  const write = () => fs.writeFileSync(out, JSON.stringify(stalls));
  process.on('exit', write);
  process.on('SIGTERM', write);
}
