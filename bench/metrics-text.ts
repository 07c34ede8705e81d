/**
 * One series' value in the daemon's Prometheus text: `name` with its label set exactly as the
 * daemon writes it (`{kind="major"}`, `{le="0.01",kind="minor"}`); undefined when absent.
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return undefined;
}
