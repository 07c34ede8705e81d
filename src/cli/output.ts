type Row = Record<string, unknown>;

// C0 and C1 controls, DEL, and the Unicode characters that reorder or break text on a terminal
// (bidi embeddings, overrides and isolates, directional marks, line and paragraph separators).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const forging = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Shows what the server sent so that it cannot act on the terminal: a newline in a reason would
 * start a row of its own, ESC would clear the screen or recolour, U+202E would run text backwards.
 * Each such character is printed as an escape (`\n`, `\x1b`, `\u202e`); --json gives the exact text.
 */
export function visible(text: string): string {
  return text.replace(forging, (c) => {
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return visible(v.join(','));
  // JSON.stringify escapes C0 controls itself but not C1 or bidi characters.
  if (typeof v === 'object') return visible(JSON.stringify(v));
  return visible(String(v));
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
    for (const [k, v] of Object.entries(value as Row)) console.log(`${visible(k)}: ${cell(v)}`);
    return;
  }
  if (value !== undefined) console.log(visible(String(value)));
}
