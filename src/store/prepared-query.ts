import { Compilable, CompiledQuery, Kysely } from 'kysely';
import { Database } from './schema';

type Q = Kysely<Database>;

/** Stands for a named parameter while the query is compiled. */
class Slot {
  constructor(readonly name: string) {}
}

/**
 * A query that Kysely builds and compiles once, then runs with new parameters. Building and
 * compiling a query (an immutable tree, then a visitor) costs several times more than running it
 * on SQLite; on the paths every reveal takes, that was most of the request. The SQL comes from
 * Kysely for `db`'s dialect, so it is still written once for SQLite and PostgreSQL.
 *
 * `build` must use each parameter only as a value (never in an `if`, never as a list for `in`,
 * never spread: name each one, since the stand-in object has no keys of its own): it runs once,
 * with stand-ins. Run the query on `db` or on any transaction of it.
 */
export function prepareQuery<P extends object, R>(db: Q, build: (db: Q, p: P) => Compilable<R>) {
  let plan: { sql: string; args: unknown[] } | undefined;
  function compile() {
    const stand = new Proxy({}, { get: (_t, name) => new Slot(String(name)) }) as P;
    const compiled = build(db, stand).compile();
    return { sql: compiled.sql, args: [...compiled.parameters] };
  }
  return async (q: Q, params: P): Promise<R[]> => {
    plan ??= compile();
    const values = plan.args.map((a) => (a instanceof Slot ? params[a.name as keyof P] : a));
    const result = await q.executeQuery(CompiledQuery.raw(plan.sql, values));
    return result.rows as R[];
  };
}
