// ISO 8601 durations limited to days, hours, minutes and seconds: months and years have no
// fixed length, and a grant or rotation window must mean the same number of seconds everywhere.
const isoDuration = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * The longest duration anything takes: a grant, a policy's maxDuration, a config setting, a CLI
 * lifetime. Elevation is meant to last hours, and 366 days is the longest span an admin could
 * mean ("a year, leap or not"); without a bound `P999999999D` parses to a number of seconds that
 * overflows a Date (a grant under it answered 500) and every timer.
 */
export const maxDurationSeconds = 366 * 86400;

// Far longer than any duration up to the bound needs (`P366DT23H59M59.999S` is 19); refused before the regex runs.
export const maxDurationText = 40;

/** Seconds in an ISO 8601 duration (`PT2H`, `P1DT30M`), or undefined when it is not one greater than zero and at most `max`. */
export function parseDurationSeconds(text: string, max: number = maxDurationSeconds): number | undefined {
  if (text.length > maxDurationText) return undefined;
  const m = isoDuration.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  if (d === undefined && h === undefined && min === undefined && s === undefined) return undefined;
  const seconds = Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
  return seconds > 0 && seconds <= max ? seconds : undefined;
}

export const durationForm = "an ISO 8601 duration greater than zero and at most 366 days, e.g. 'PT1H', 'PT30M', 'P1DT2H'";

/** A command-line lifetime: `90s`, `30m`, `1h`, `2d`, or an ISO 8601 duration; undefined when not one greater than zero and at most `max`. */
export function parseShortDurationSeconds(text: string, max: number = maxDurationSeconds): number | undefined {
  const m = /^(\d{1,12})([smhd])$/.exec(text);
  if (!m) return parseDurationSeconds(text, max);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return n > 0 && n <= max ? n : undefined;
}
