import { Kysely } from 'kysely';
import { Database, PortalSignInTable } from '../store/schema';

type Q = Kysely<Database>;

/** The portal_sign_ins table: Entra sign-ins begun and not yet finished. `q` is the store or a transaction of it. */
export function createSignInRepository() {
  return {
    async insert(q: Q, row: PortalSignInTable): Promise<void> {
      await q.insertInto('portal_sign_ins').values(row).execute();
    },
    /**
     * Takes a pending sign-in out of the store: the delete is the single use. Two callbacks with
     * the same state (a replayed URL, two daemons) race for one row; only one of them gets it.
     */
    async take(q: Q, stateHash: string): Promise<PortalSignInTable | undefined> {
      return q.deleteFrom('portal_sign_ins').where('state_hash', '=', stateHash).returningAll().executeTakeFirst();
    },
    /** Deletes sign-ins that expired before `cutoff` (abandoned at Entra's login page); how many. */
    async prune(q: Q, cutoff: string): Promise<number> {
      const r = await q.deleteFrom('portal_sign_ins').where('expires_at', '<', cutoff).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

export type SignInRepository = ReturnType<typeof createSignInRepository>;
