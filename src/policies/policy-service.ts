import crypto from 'node:crypto';
import { RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { GrantService } from '../grants/grant-service';
import { UserPrincipal, requireRole } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Page, keysetPage } from '../store/paging';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { Policy } from './policy';
import { PolicyRepository } from './policy-repository';

export type PolicyInput = Omit<Policy, 'id' | 'createdAt' | 'updatedAt'>;

/** A policy after a change, and how many open grants the change ended (those no enabled policy allows any more). */
export type ChangedPolicy = Policy & { grantsEnded: number };

/** Designations: who may elevate on which device groups, and on what terms (admin). */
export function createPolicyService(deps: {
  db: Db;
  transactor: Transactor;
  policies: PolicyRepository;
  grants: Pick<GrantService, 'endGrantsNoPolicyCovers'>;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
}) {
  const { db, transactor, policies, audit, clock } = deps;

  const details = (input: PolicyInput) => ({
    name: input.name,
    deviceGroups: input.deviceGroups.join(','),
    maxDuration: input.maxDuration,
    requireApproval: input.requireApproval,
    requireTicket: input.requireTicket,
    enabled: input.enabled,
  });

  /** Ends, in the change's own transaction, the open grants the policy made that no enabled policy allows now. */
  const endUncovered = (tx: Tx, p: UserPrincipal, id: string, ctx: RequestContext) =>
    deps.grants.endGrantsNoPolicyCovers(tx, id, { actor: { kind: 'system', subject: 'policies' }, by: `system:policy-change:${p.subject}`.slice(0, 200), context: ctx });

  async function createPolicy(p: UserPrincipal, input: PolicyInput, ctx: RequestContext): Promise<Policy> {
    requireRole(p, 'admin');
    const id = crypto.randomUUID();
    const now = clock.now().toISOString();
    await transactor.run(async (tx) => {
      if (await policies.nameTaken(tx, input.name)) throw new DomainError('conflict', `A policy named '${input.name}' already exists.`);
      await policies.insert(tx, { ...input, id, createdAt: now, updatedAt: now });
      await audit.append(tx, { actor: actorOf(p), action: 'policy.created', outcome: 'success', target: `policy:${id}`, details: details(input), context: ctx });
    });
    return getPolicy(p, id);
  }

  /** Replaces a policy; what it no longer allows (disabled, narrowed) ends in the same transaction. */
  async function replacePolicy(p: UserPrincipal, id: string, input: PolicyInput, ctx: RequestContext): Promise<ChangedPolicy> {
    requireRole(p, 'admin');
    const ended = await transactor.run(async (tx) => {
      const old = await policies.findById(tx, id);
      if (!old) throw new DomainError('not-found', `No policy '${id}'.`);
      if (await policies.nameTaken(tx, input.name, id)) throw new DomainError('conflict', `A policy named '${input.name}' already exists.`);
      await policies.replace(tx, { ...input, id, createdAt: old.createdAt, updatedAt: clock.now().toISOString() });
      const outcome = await endUncovered(tx, p, id, ctx);
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'policy.updated',
        outcome: 'success',
        target: `policy:${id}`,
        details: { ...details(input), grantsEnded: outcome.ended },
        context: ctx,
      });
      return outcome;
    });
    ended.committed();
    return { ...(await getPolicy(p, id)), grantsEnded: ended.ended };
  }

  /** Deletes a policy; the open grants it made that no other policy allows end in the same transaction. */
  async function deletePolicy(p: UserPrincipal, id: string, ctx: RequestContext): Promise<{ id: string; grantsEnded: number }> {
    requireRole(p, 'admin');
    const ended = await transactor.run(async (tx) => {
      if (!(await policies.delete(tx, id))) throw new DomainError('not-found', `No policy '${id}'.`);
      const outcome = await endUncovered(tx, p, id, ctx);
      await audit.append(tx, { actor: actorOf(p), action: 'policy.deleted', outcome: 'success', target: `policy:${id}`, details: { grantsEnded: outcome.ended }, context: ctx });
      return outcome;
    });
    ended.committed();
    return { id, grantsEnded: ended.ended };
  }

  async function getPolicy(p: UserPrincipal, id: string): Promise<Policy> {
    requireRole(p, 'admin', 'auditor');
    const policy = await policies.findById(db, id);
    if (!policy) throw new DomainError('not-found', `No policy '${id}'.`);
    return policy;
  }

  async function listPolicies(p: UserPrincipal, f: { cursor?: string; limit: number }): Promise<Page<Policy>> {
    requireRole(p, 'admin', 'auditor');
    return keysetPage(
      f,
      ['string'],
      (after, limit) => policies.list(db, { afterName: after?.[0], limit }),
      (policy) => [policy.name],
    );
  }

  return { createPolicy, replacePolicy, deletePolicy, getPolicy, listPolicies };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
