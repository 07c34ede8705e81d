import { Kysely } from 'kysely';
import { Database, PortalSessionTable } from '../store/schema';

type Q = Kysely<Database>;

/** The portal_sessions table. `q` is the store or a transaction of it. */
export function createSessionRepository() {
  return {
    async insert(q: Q, row: PortalSessionTable): Promise<void> {
      await q.insertInto('portal_sessions').values(row).execute();
    },
    async findLive(q: Q, idHash: string): Promise<PortalSessionTable | undefined> {
      return q.selectFrom('portal_sessions').selectAll().where('id_hash', '=', idHash).where('ended_at', 'is', null).executeTakeFirst();
    },
    /** Moves last_seen_at forward; only from an older value, so two daemons touching at once cannot move it back. */
    async touch(q: Q, idHash: string, at: string): Promise<void> {
      await q.updateTable('portal_sessions').set({ last_seen_at: at }).where('id_hash', '=', idHash).where('last_seen_at', '<', at).execute();
    },
    /** Ends a live session; false when it had ended already (another daemon, a second click). */
    async end(q: Q, idHash: string, at: string, reason: string): Promise<boolean> {
      const r = await q.updateTable('portal_sessions').set({ ended_at: at, ended_reason: reason }).where('id_hash', '=', idHash).where('ended_at', 'is', null).executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    /** Live sessions whose browser never came back: past their absolute end, or unused since `idleSince`. */
    async lapsed(q: Q, opts: { now: string; idleSince: string; limit: number }): Promise<PortalSessionTable[]> {
      return q
        .selectFrom('portal_sessions')
        .selectAll()
        .where('ended_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', '<=', opts.now), eb('last_seen_at', '<=', opts.idleSince)]))
        .limit(opts.limit)
        .execute();
    },
    /** Deletes sessions that ended or expired before `cutoff`; how many. */
    async prune(q: Q, cutoff: string): Promise<number> {
      const r = await q
        .deleteFrom('portal_sessions')
        .where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('ended_at', '<', cutoff)]))
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export type SessionRepository = ReturnType<typeof createSessionRepository>;
