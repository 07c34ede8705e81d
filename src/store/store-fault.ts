import { DomainError } from '../problems/problem';

/**
 * SQLite's codes for a store that cannot take the call now, extended codes included
 * (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED…): a full disk, a read-only or failing file system,
 * a lock still held when busy_timeout ran out, a file that cannot be opened.
 */
const sqliteOutage = /^SQLITE_(FULL|READONLY|IOERR|BUSY|CANTOPEN)(_[A-Z]+)?$/;

/**
 * PostgreSQL's SQLSTATEs for a server that cannot serve now: class 08 (connection exception),
 * admin or crash shutdown and "starting up" (57P01-57P03), class 53 (insufficient resources: a
 * full disk, out of memory, too many connections), and 25006 (a read-only transaction: the
 * daemon reached a standby, or a node demoted by a fail-over; the daemon never opens one itself).
 */
const postgresOutage = /^(08[0-9A-Z]{3}|57P0[123]|53[0-9A-Z]{3}|25006)$/;

/** The socket could not reach the server, or lost it. */
const networkOutage = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** pg's own messages for a connection it lost or could not open in time (they carry no code). */
const lostConnection =
  /Connection terminated|connection ended|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect/i;

/**
 * The cause, as a short bounded code, when `error` (or an error it wraps as `cause`) says the store
 * cannot be used right now, as opposed to a bug or a write the store refused on its merits: the
 * SQLite or PostgreSQL code, the socket's errno, or `connection-lost`. Undefined otherwise.
 * The one classifier of store outages: the transactors, readiness and the HTTP error handler ask it.
 */
export function storeOutageCode(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const { code, message, errors } = e as { code?: unknown; message?: unknown; errors?: unknown };
    if (typeof code === 'string' && (sqliteOutage.test(code) || postgresOutage.test(code) || networkOutage.has(code))) return code;
    if (typeof message === 'string' && lostConnection.test(message)) return 'connection-lost';
    // Node's happy-eyeballs connect fails with an AggregateError of one error per address tried.
    if (Array.isArray(errors) && errors.length > 0) {
      const inner = storeOutageCode(errors[0]);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** An error and the errors it wraps as `cause`, outermost first, at most 8 deep (a cycle of causes ends too). */
export function* causeChain(error: unknown): Generator<object> {
  let e = error;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < 8; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** Whether `error` says the store is unavailable (see storeOutageCode). */
export function isStoreOutage(error: unknown): boolean {
  return storeOutageCode(error) !== undefined;
}

/** The problem a caller gets for a store outage: 503 `unavailable`, the store's own error kept as the cause for the log. */
export function storeUnavailable(error: unknown): DomainError {
  return new DomainError('unavailable', 'The store is unavailable; nothing was done. Try again shortly.', { cause: error });
}
