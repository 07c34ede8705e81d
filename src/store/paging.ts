import { DomainError } from '../problems/problem';

/** Cursors are opaque to clients: base64url JSON of the last key of the previous page. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined, arity: number): Array<string | number> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === arity && key.every((k) => typeof k === 'string' || typeof k === 'number')) return key;
  } catch {
    // fall through to the problem below
  }
  throw new DomainError('invalid-request', 'The cursor is not one this server issued.', [{ path: 'cursor', message: 'invalid cursor' }]);
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
