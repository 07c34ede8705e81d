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
  throw new DomainError('invalid-request', 'The cursor is not one this server issued.', [{ path: 'cursor', message: 'invalid cursor' }]);
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
