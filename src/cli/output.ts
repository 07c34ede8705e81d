type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A plain aligned table of the chosen columns. */
export function table(rows: readonly Row[], columns: readonly string[]): string {
  const body = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...body.map(line)].join('\n');
}

/** Prints JSON with --json, else a table (lists) or key: value lines (one object). */
export function print(value: unknown, json: boolean, columns: readonly string[]): void {
  if (json) {
    console.log(JSON.stringify(value, null, 2));
    return;
  }
  if (value && typeof value === 'object' && Array.isArray((value as { items?: unknown }).items)) {
    const page = value as { items: Row[]; nextCursor?: string | null };
    console.log(table(page.items, columns));
    if (page.nextCursor) console.log(`(more: --cursor ${page.nextCursor})`);
    return;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Row)) console.log(`${k}: ${cell(v)}`);
    return;
  }
  if (value !== undefined) console.log(String(value));
}
