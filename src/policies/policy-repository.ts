import { Kysely } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { Database, PolicyTable } from '../store/schema';
import { Policy } from './policy';

type Q = Kysely<Database>;

function policyFromRow(r: PolicyTable): Policy {
  return {
    id: r.id,
    name: r.name,
    principals: JSON.parse(r.principals) as Policy['principals'],
    deviceGroups: JSON.parse(r.device_groups) as string[],
    maxDuration: r.max_duration,
    requireTicket: r.require_ticket === 1,
    ...(r.ticket_pattern !== null ? { ticketPattern: r.ticket_pattern } : {}),
    requireApproval: r.require_approval === 1,
    enabled: r.enabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function policyToRow(p: Policy): PolicyTable {
  return {
    id: p.id,
    name: p.name,
    principals: JSON.stringify(p.principals),
    device_groups: JSON.stringify(p.deviceGroups),
    max_duration: p.maxDuration,
    require_ticket: p.requireTicket ? 1 : 0,
    ticket_pattern: p.ticketPattern ?? null,
    require_approval: p.requireApproval ? 1 : 0,
    enabled: p.enabled ? 1 : 0,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

/** The policies table. `q` is the store or a transaction of it. */
export function createPolicyRepository(db: Q) {
  // Read on every reveal (a grant no enabled policy allows any more reveals nothing): prepared once.
  const enabledRows = prepareQuery(db, (d, _p: Record<string, never>) => d.selectFrom('policies').selectAll().where('enabled', '=', 1));
  return {
    /** Every enabled policy: the designations a decision is made against. */
    async enabled(q: Q): Promise<Policy[]> {
      return (await enabledRows(q, {})).map(policyFromRow);
    },
    async findById(q: Q, id: string): Promise<Policy | undefined> {
      const r = await q.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? policyFromRow(r) : undefined;
    },
    async nameTaken(q: Q, name: string, exceptId?: string): Promise<boolean> {
      let sel = q.selectFrom('policies').select('id').where('name', '=', name);
      if (exceptId) sel = sel.where('id', '!=', exceptId);
      return (await sel.executeTakeFirst()) !== undefined;
    },
    async insert(q: Q, p: Policy): Promise<void> {
      await q.insertInto('policies').values(policyToRow(p)).execute();
    },
    async replace(q: Q, p: Policy): Promise<void> {
      await q.updateTable('policies').set(policyToRow(p)).where('id', '=', p.id).execute();
    },
    /** False when there was no such policy. */
    async delete(q: Q, id: string): Promise<boolean> {
      const r = await q.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
    /** A page by name, after `afterName`. */
    async list(q: Q, f: { afterName?: string; limit: number }): Promise<Policy[]> {
      let sel = q.selectFrom('policies').selectAll();
      if (f.afterName !== undefined) sel = sel.where('name', '>', f.afterName);
      return (await sel.orderBy('name').limit(f.limit).execute()).map(policyFromRow);
    },
  };
}

export type PolicyRepository = ReturnType<typeof createPolicyRepository>;
