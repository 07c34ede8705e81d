import { Command } from 'commander';
import { ClientOptions } from './client';
import { print, visible } from './output';

// The plumbing every API client command shares (one file per domain beside this one): the common
// options, the connection, the query string and how an answer is shown. What the daemon answers
// with an error becomes a ClientError in ./client, printed as one line by ./main.

/** The options every API client command takes. */
export interface Flags {
  url: string;
  token?: string;
  json?: boolean;
  quiet?: boolean;
}

/** A comma-separated option as its non-empty, trimmed items. */
export const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
export const enc = encodeURIComponent;

/** Adds the options every API client command takes. */
export function client(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('--url <url>', 'the daemon (default $JITBROKER_URL or http://127.0.0.1:7800)')
    .option('--token <jwt>', 'bearer token (default $JITBROKER_TOKEN)')
    .option('--json', 'print the JSON answer instead of a table')
    .option('-q, --quiet', 'print only the essential value (an id, a password)');
}

export function connection(f: Flags): ClientOptions {
  return { url: f.url ?? process.env.JITBROKER_URL ?? 'http://127.0.0.1:7800', token: f.token ?? process.env.JITBROKER_TOKEN };
}

/** The query string of the options that are set. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The answer as --json, --quiet (its essential value) or a table asks. */
export function show(value: unknown, f: Flags, columns: readonly string[], essential?: (v: Record<string, unknown>) => unknown): void {
  if (f.quiet && essential && value && typeof value === 'object') console.log(visible(String(essential(value as Record<string, unknown>))));
  else print(value, f.json ?? false, columns);
}

/** The paging options of a list command. */
export const pageOptions = (c: Command) => c.option('--limit <n>', 'page size (1-500)').option('--cursor <cursor>', 'the nextCursor of the previous page');
