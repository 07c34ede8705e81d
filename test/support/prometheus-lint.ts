/**
 * The rules of `promtool check metrics` (client_golang's promlint, Prometheus 2.42) that a text
 * scrape can break, plus the text parser's refusals (a family declared twice, a sample before its
 * TYPE) and newer promlint's duplicate series. promtool itself is not something the suite can
 * install, so this is its rule book, each problem phrased as promtool phrases it.
 */
const baseUnits: Record<string, string> = {
  amperes: 'amperes',
  bytes: 'bytes',
  celsius: 'celsius',
  grams: 'grams',
  joules: 'joules',
  kelvin: 'kelvin',
  meters: 'meters',
  metres: 'metres',
  seconds: 'seconds',
  volts: 'volts',
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  weeks: 'seconds',
  kelvins: 'kelvin',
  fahrenheit: 'celsius',
  rankine: 'celsius',
  inches: 'meters',
  yards: 'meters',
  miles: 'meters',
  bits: 'bytes',
  calories: 'joules',
  pounds: 'grams',
  ounces: 'grams',
};
const unitPrefixes = ['pico', 'nano', 'micro', 'milli', 'centi', 'deci', 'deca', 'hecto', 'kilo', 'kibi', 'mega', 'mibi', 'giga', 'gibi', 'tera', 'tebi', 'peta', 'pebi'];
const unitAbbreviations = ['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd'];
const camelCase = /[a-z][A-Z]/;

interface Family {
  type?: string;
  help?: string;
  labelNames: Set<string>;
}

/** Every problem promtool would report for this scrape, as `name problem`; [] when it passes. */
export function lintPrometheusText(text: string): string[] {
  const problems: string[] = [];
  const families = new Map<string, Family>();
  const family = (name: string) => families.get(name) ?? (families.set(name, { labelNames: new Set() }).get(name) as Family);
  const series = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, 'HELP' | 'TYPE', string, string];
      const f = family(name);
      const field = kind === 'HELP' ? 'help' : 'type';
      if (f[field] !== undefined) problems.push(`${name} second ${kind} line for metric name`);
      f[field] = rest;
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) {
      problems.push(`unparsable line: ${line}`);
      continue;
    }
    const [, name, labels = ''] = sample as unknown as [string, string, string | undefined];
    // A histogram's or summary's samples belong to the family without their suffix.
    const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    const owner = base !== undefined && ['histogram', 'summary'].includes(families.get(base)?.type ?? '') ? base : name;
    const f = families.get(owner);
    if (f?.type === undefined) problems.push(`${name} sample before its TYPE line`);
    const labelNames = [...labels.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)].map((m) => m[1] as string);
    for (const l of labelNames) f?.labelNames.add(l);
    const key = `${name}{${labels
      .split(/,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/)
      .sort()
      .join(',')}}`;
    if (series.has(key)) problems.push(`${name} duplicate series ${key}`);
    series.add(key);
  }

  for (const [name, f] of families) {
    const type = f.type ?? 'untyped';
    if (!f.help) problems.push(`${name} no help text`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name} counter metrics should have "_total" suffix`);
    if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name} non-counter metrics should not have "_total" suffix`);
    if (!['histogram', 'summary'].includes(type)) {
      for (const reserved of ['_bucket', '_count', '_sum']) {
        if (name.endsWith(reserved)) problems.push(`${name} non-histogram and non-summary metrics should not have "${reserved}" suffix`);
      }
    }
    if (type !== 'histogram' && f.labelNames.has('le')) problems.push(`${name} non-histogram metrics should not have "le" label`);
    if (type !== 'summary' && f.labelNames.has('quantile')) problems.push(`${name} non-summary metrics should not have "quantile" label`);
    if (type !== 'untyped' && (name.toLowerCase().includes(`_${type}_`) || name.toLowerCase().endsWith(`_${type}`))) {
      problems.push(`${name} metric name should not include type '${type}'`);
    }
    if (name.includes(':')) problems.push(`${name} metric names should not contain ':'`);
    if (camelCase.test(name)) problems.push(`${name} metric names should be written in 'snake_case' not 'camelCase'`);
    for (const l of f.labelNames) if (camelCase.test(l)) problems.push(`${name} label names should be written in 'snake_case' not 'camelCase'`);
    const tokens = name.split('_');
    for (const t of tokens) {
      if (unitAbbreviations.includes(t)) problems.push(`${name} metric names should not contain abbreviated units`);
      const prefix = unitPrefixes.find((p) => t.startsWith(p) && baseUnits[t.slice(p.length)] !== undefined);
      const unit = prefix ? t.slice(prefix.length) : t;
      const base = baseUnits[unit];
      if (base !== undefined && (prefix !== undefined || base !== unit)) problems.push(`${name} use base unit "${base}" instead of "${t}"`);
    }
  }
  return problems;
}
