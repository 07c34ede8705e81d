import { Kysely, PostgresDialect } from 'kysely';
import { Database } from './schema';

/** True for a PostgreSQL connection URL (postgres:// or postgresql://). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Opens a PostgreSQL store through a pg connection pool: the daemon with store.driver postgres
 * (several daemons may share the database), `jitbroker migrate`, `store copy` and `store verify`.
 */
export function openPostgres(url: string, opts: { maxConnections?: number } = {}): Kysely<Database> {
  // Loaded only for a PostgreSQL store: a daemon or CLI command on SQLite (the default) does not pay for it at start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Pool } = require('pg') as typeof import('pg');
  // A server that does not answer (a lost host, a dropped route) fails the connect after 10 s instead of hanging the request.
  const pool = new Pool({ connectionString: url, max: opts.maxConnections ?? 4, connectionTimeoutMillis: 10_000 });
  // An idle client that loses its connection emits 'error' on the pool; unhandled it would end the process.
  pool.on('error', () => undefined);
  // A checked-out client emits 'error' on itself, and the pool listens only while it is idle: one held
  // between two queries (a job's advisory lock, a transaction between statements) ended the process
  // when the server went away. Its caller still hears: the query in flight, or the next one, fails.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
