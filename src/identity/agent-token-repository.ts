import { Kysely } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { Database } from '../store/schema';

type Q = Kysely<Database>;

/** The agent_tokens table: the ids of device tokens already presented, kept until those tokens expire. */
export function createAgentTokenRepository(db: Q) {
  // Every agent poll records its token id: prepared once, not built and compiled on each poll.
  const seenJti = prepareQuery(db, (d, p: { jti: string }) => d.selectFrom('agent_tokens').select('jti').where('jti', '=', p.jti));
  const recordJti = prepareQuery(db, (d, p: { jti: string; deviceId: string; expiresAt: string }) =>
    d.insertInto('agent_tokens').values({ jti: p.jti, device_id: p.deviceId, expires_at: p.expiresAt }),
  );
  return {
    async seen(q: Q, jti: string): Promise<boolean> {
      return (await seenJti(q, { jti })).length > 0;
    },
    async record(q: Q, t: { jti: string; deviceId: string; expiresAt: string }): Promise<void> {
      await recordJti(q, t);
    },
    async pruneExpiredBefore(q: Q, cutoff: string): Promise<void> {
      await q.deleteFrom('agent_tokens').where('expires_at', '<', cutoff).execute();
    },
  };
}

export type AgentTokenRepository = ReturnType<typeof createAgentTokenRepository>;
