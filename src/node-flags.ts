/**
 * The flags every launcher of the daemon gives node: `npm start`, scripts/jitbroker.service and
 * scripts/docker-entrypoint.sh, and the e2e tests and benchmarks that start it
 * (test/e2e/launchers.test.ts holds each of them to this list).
 *
 * `--no-memory-reducer`: after a few seconds without requests, V8's memory reducer runs full
 * collections to give memory back, and leaves the old generation's limit just above what is live.
 * The next burst then promotes objects faster than that limit allows for: a full mark-compact every
 * ~200 ms (2–7 ms each on the event loop) for up to the whole of a 10 s burst, and a reveal p99
 * twice the steady one. Without the reducer the heap keeps the size that load needs (tens of MB).
 * README, "Node flags", has the figures.
 */
export const daemonNodeFlags: readonly string[] = ['--no-memory-reducer'];

/** The launcher flags this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return daemonNodeFlags.filter((flag) => !execArgv.includes(flag));
}
