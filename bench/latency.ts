import type autocannon from 'autocannon';

/**
 * Every reply's latency in ms, at the client's hrtime resolution: autocannon's own histogram keeps
 * whole milliseconds, too coarse to compare two servers whose p99 lies between 6 and 8 ms.
 * With a fixed request rate, a reply later than the interval between requests also counts the
 * requests that would have been sent while it was awaited (ms − interval, ms − 2·interval, …), the
 * coordinated-omission correction autocannon's histogram makes for such runs.
 */
export function collectLatencies(instance: autocannon.Instance, expectedIntervalMs?: number): number[] {
  const latencies: number[] = [];
  instance.on('response', (_client, _status, _bytes, ms) => {
    latencies.push(ms);
    if (expectedIntervalMs !== undefined && expectedIntervalMs > 0) {
      for (let missed = ms - expectedIntervalMs; missed >= expectedIntervalMs; missed -= expectedIntervalMs) latencies.push(missed);
    }
  });
  return latencies;
}
