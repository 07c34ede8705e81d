import type autocannon from 'autocannon';

/**
 * Every reply's latency in ms, at the client's hrtime resolution: autocannon's own histogram keeps
 * whole milliseconds, too coarse to compare two servers whose p99 lies between 6 and 8 ms.
 * With a fixed request rate, a reply later than the interval between requests also counts the
 * requests that would have been sent while it was awaited (ms − interval, ms − 2·interval, …), the
 * coordinated-omission correction autocannon's histogram makes for such runs. `at[i]` is when
 * `latencies[i]`'s reply came.
 */
export function collectLatencies(instance: autocannon.Instance, expectedIntervalMs?: number): { latencies: number[]; at: number[] } {
  const latencies: number[] = [];
  // When each entry's reply came, in seconds since collection began (a corrected entry takes its reply's).
  const at: number[] = [];
  const started = performance.now();
  instance.on('response', (_client, _status, _bytes, ms) => {
    const now = (performance.now() - started) / 1000;
    latencies.push(ms);
    at.push(now);
    if (expectedIntervalMs !== undefined && expectedIntervalMs > 0) {
      for (let missed = ms - expectedIntervalMs; missed >= expectedIntervalMs; missed -= expectedIntervalMs) {
        latencies.push(missed);
        at.push(now);
      }
    }
  });
  return { latencies, at };
}
