// ISO 8601 durations limited to days, hours, minutes and seconds: months and years have no
// fixed length, and a grant or rotation window must mean the same number of seconds everywhere.
const isoDuration = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Seconds in an ISO 8601 duration (`PT2H`, `P1DT30M`), or undefined when it is not a strictly positive one. */
export function parseDurationSeconds(text: string): number | undefined {
  const m = isoDuration.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  if (d === undefined && h === undefined && min === undefined && s === undefined) return undefined;
  const seconds = Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
  return seconds > 0 && Number.isFinite(seconds) ? seconds : undefined;
}

export const durationForm = "an ISO 8601 duration greater than zero, e.g. 'PT1H', 'PT30M', 'P1DT2H'";

/** A command-line lifetime: `90s`, `30m`, `1h`, `2d`, or an ISO 8601 duration. */
export function parseShortDurationSeconds(text: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) return parseDurationSeconds(text);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return n > 0 ? n : undefined;
}
