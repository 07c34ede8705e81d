import path from 'node:path';
import { isPostgresUrl, redactUrl } from './postgres';

/** Where a store is: a SQLite file or a PostgreSQL database. */
export type StoreLocation = { driver: 'sqlite'; file: string } | { driver: 'postgres'; url: string };

export class StoreUrlError extends Error {}

/** `sqlite:<file>` (relative to the working directory) or `postgres://…` / `postgresql://…`. */
export function parseStoreUrl(value: string): StoreLocation {
  if (isPostgresUrl(value)) return { driver: 'postgres', url: value };
  const m = /^sqlite:(?:\/\/)?(.+)$/i.exec(value);
  if (m) return { driver: 'sqlite', file: path.resolve(m[1] as string) };
  throw new StoreUrlError(`${value.includes('@') ? '(a URL)' : value}: not a store; accepted: sqlite:<file> or postgres://user@host:port/database`);
}

/** For messages: the file, or the URL without its password. */
export function describeStore(s: StoreLocation): string {
  return s.driver === 'sqlite' ? `sqlite:${s.file}` : redactUrl(s.url);
}
