import crypto from 'node:crypto';
import { RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { UserPrincipal, requireRole } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Page, decodeCursor, encodeCursor } from '../store/paging';
import { PolicyTable } from '../store/schema';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { Policy, policyFromRow } from './policy';

export type PolicyInput = Omit<Policy, 'id' | 'createdAt' | 'updatedAt'>;

function toRow(id: string, input: PolicyInput, createdAt: string, updatedAt: string): PolicyTable {
  return {
    id,
    name: input.name,
    principals: JSON.stringify(input.principals),
    device_groups: JSON.stringify(input.deviceGroups),
    max_duration: input.maxDuration,
    require_ticket: input.requireTicket ? 1 : 0,
    ticket_pattern: input.ticketPattern ?? null,
    require_approval: input.requireApproval ? 1 : 0,
    enabled: input.enabled ? 1 : 0,
    created_at: createdAt,
    updated_at: updatedAt,
  };
}

/** Designations: who may elevate on which device groups, and on what terms (admin). */
export function createPolicyService(deps: { db: Db; transactor: Transactor; audit: Pick<AuditLog, 'append'>; clock: Clock }) {
  const { db, transactor, audit, clock } = deps;

  async function nameTaken(tx: Tx, name: string, exceptId?: string): Promise<boolean> {
    let q = tx.selectFrom('policies').select('id').where('name', '=', name);
    if (exceptId) q = q.where('id', '!=', exceptId);
    return (await q.executeTakeFirst()) !== undefined;
  }

  const details = (input: PolicyInput) => ({
    name: input.name,
    deviceGroups: input.deviceGroups.join(','),
    maxDuration: input.maxDuration,
    requireApproval: input.requireApproval,
    requireTicket: input.requireTicket,
    enabled: input.enabled,
  });

  async function createPolicy(p: UserPrincipal, input: PolicyInput, ctx: RequestContext): Promise<Policy> {
    requireRole(p, 'admin');
    const id = crypto.randomUUID();
    const now = clock.now().toISOString();
    await transactor.run(async (tx) => {
      if (await nameTaken(tx, input.name)) throw new DomainError('conflict', `A policy named '${input.name}' already exists.`);
      await tx
        .insertInto('policies')
        .values(toRow(id, input, now, now))
        .execute();
      await audit.append(tx, { actor: actorOf(p), action: 'policy.created', outcome: 'success', target: `policy:${id}`, details: details(input), context: ctx });
    });
    return getPolicy(p, id);
  }

  async function replacePolicy(p: UserPrincipal, id: string, input: PolicyInput, ctx: RequestContext): Promise<Policy> {
    requireRole(p, 'admin');
    await transactor.run(async (tx) => {
      const old = await tx.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
      if (!old) throw new DomainError('not-found', `No policy '${id}'.`);
      if (await nameTaken(tx, input.name, id)) throw new DomainError('conflict', `A policy named '${input.name}' already exists.`);
      await tx
        .updateTable('policies')
        .set(toRow(id, input, old.created_at, clock.now().toISOString()))
        .where('id', '=', id)
        .execute();
      await audit.append(tx, { actor: actorOf(p), action: 'policy.updated', outcome: 'success', target: `policy:${id}`, details: details(input), context: ctx });
    });
    return getPolicy(p, id);
  }

  async function deletePolicy(p: UserPrincipal, id: string, ctx: RequestContext): Promise<void> {
    requireRole(p, 'admin');
    await transactor.run(async (tx) => {
      const r = await tx.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
      if (r.numDeletedRows === 0n) throw new DomainError('not-found', `No policy '${id}'.`);
      await audit.append(tx, { actor: actorOf(p), action: 'policy.deleted', outcome: 'success', target: `policy:${id}`, context: ctx });
    });
  }

  async function getPolicy(p: UserPrincipal, id: string): Promise<Policy> {
    requireRole(p, 'admin', 'auditor');
    const r = await db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new DomainError('not-found', `No policy '${id}'.`);
    return policyFromRow(r);
  }

  async function listPolicies(p: UserPrincipal, f: { cursor?: string; limit: number }): Promise<Page<Policy>> {
    requireRole(p, 'admin', 'auditor');
    const after = decodeCursor(f.cursor, ['string']);
    let q = db.selectFrom('policies').selectAll();
    if (after) q = q.where('name', '>', after[0]);
    const rows = (
      await q
        .orderBy('name')
        .limit(f.limit + 1)
        .execute()
    ).map(policyFromRow);
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page, nextCursor: rows.length > f.limit && last ? encodeCursor([last.name]) : null };
  }

  /** Every enabled policy, for decisions inside a grant transaction. */
  async function enabledPolicies(tx: Tx): Promise<Policy[]> {
    return (await tx.selectFrom('policies').selectAll().where('enabled', '=', 1).execute()).map(policyFromRow);
  }

  return { createPolicy, replacePolicy, deletePolicy, getPolicy, listPolicies, enabledPolicies };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
