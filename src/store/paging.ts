import { DomainError } from '../problems/problem';

/** Cursors are opaque to clients: base64url JSON of the last key of the previous page. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

type KeyKind = 'string' | 'number';
type KeyOf<K extends readonly KeyKind[]> = { [I in keyof K]: K[I] extends 'number' ? number : string };

/** The key a cursor holds, checked against the kinds of the key this list pages by; a forged cursor is a 400. */
export function decodeCursor<const K extends readonly KeyKind[]>(cursor: string | undefined, kinds: K): KeyOf<K> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const fits = (k: unknown, kind: KeyKind) => (kind === 'number' ? Number.isSafeInteger(k) && (k as number) >= 0 : typeof k === 'string');
    if (Array.isArray(key) && key.length === kinds.length && key.every((k, i) => fits(k, kinds[i] as KeyKind))) return key as KeyOf<K>;
  } catch {
    // fall through to the problem below
  }
  throw new DomainError('invalid-request', 'The cursor is not one this server issued.', { errors: [{ path: 'cursor', message: 'invalid cursor' }] });
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * One page of a keyset-paged list: decodes the request's cursor into a key of `kinds` to start
 * after, asks `fetch` for one row more than the limit (so a next page is known without counting),
 * and makes the next cursor from `keyOf` the last row shown when that row more came back.
 */
export async function keysetPage<Row, const K extends readonly KeyKind[]>(
  request: { cursor?: string; limit: number },
  kinds: K,
  fetch: (after: KeyOf<K> | undefined, limit: number) => Promise<Row[]>,
  keyOf: (row: Row) => KeyOf<K>,
): Promise<Page<Row>> {
  const rows = await fetch(decodeCursor(request.cursor, kinds), request.limit + 1);
  const { items, last } = splitPage(rows, request.limit);
  return { items, nextCursor: last ? encodeCursor(keyOf(last)) : null };
}

/** The first `limit` of `limit + 1` rows fetched, and the last of them when the extra row says a next page follows. */
export function splitPage<Row>(rows: Row[], limit: number): { items: Row[]; last: Row | undefined } {
  const items = rows.slice(0, limit);
  return { items, last: rows.length > limit ? items[items.length - 1] : undefined };
}
