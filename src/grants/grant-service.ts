import crypto from 'node:crypto';
import { AuditActor, RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { CredentialService } from '../credentials/credential-service';
import { RotationService } from '../credentials/rotation-service';
import { DeviceRepository } from '../devices/device-repository';
import { UserPrincipal, hasRole, requireRole } from '../identity/principal';
import { Policy, decide, decideGrant } from '../policies/policy';
import { PolicyRepository } from '../policies/policy-repository';
import { Metrics } from '../metrics/metrics';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Page, keysetPage } from '../store/paging';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { WebhookService } from '../webhooks/webhook-service';
import { parseDurationSeconds } from '../time/duration';
import { Grant, GrantRequester, approvedOf, assertCanMove, isLive, isOwnRequest, requestOf } from './grant';
import { createRefuse } from './grant-refusal';
import { createGrantReveal } from './grant-reveal';
import { createGrantTimeline } from './grant-timeline';
import { GrantRepository } from './grant-repository';

export type { Reveal } from './grant-reveal';

export interface GrantRequest {
  deviceId: string;
  reason: string;
  ticket?: string;
  duration: string;
}

/** Who ends a grant that policy or the device's retirement no longer allows, and why. */
export interface GrantEnding {
  actor: AuditActor;
  /** Recorded as the grant's `endedBy` (active) or `decidedBy` (pending). */
  by: string;
  reason: string;
  context?: RequestContext;
  /** False when the device is retired in the same transaction: it is never rotated again, so no job is queued. */
  queueRotation?: boolean;
}

/** The grant state machine: request, approve, deny, revoke, expire, and the audited reveal. */
export function createGrantService(deps: {
  db: Db;
  grants: GrantRepository;
  /** The device's groups and status, which a decision reads. */
  devices: Pick<DeviceRepository, 'findById'>;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append' | 'eventsAbout'>;
  policies: Pick<PolicyRepository, 'enabled'>;
  credentials: Pick<CredentialService, 'readSecret' | 'markRevealed' | 'firstAcknowledgedSince'>;
  rotations: Pick<RotationService, 'enqueue'>;
  clock: Clock;
  postUseDelaySeconds: number;
  ackTimeoutSeconds: number;
  webhooks: Pick<WebhookService, 'enqueue'>;
  metrics: Pick<Metrics, 'grant' | 'reveal'>;
  /** An authentication context (Entra `acrs`) a principal's sign-in must satisfy to reveal a password. */
  revealAuthContext?: string;
}) {
  const { db, grants, devices, transactor, audit, policies, credentials, rotations, clock, metrics } = deps;

  const refuse = createRefuse({ transactor, audit });
  const reveal = createGrantReveal({
    db,
    grants,
    transactor,
    audit,
    policies,
    credentials,
    clock,
    ackTimeoutSeconds: deps.ackTimeoutSeconds,
    metrics,
    refuse,
    revealAuthContext: deps.revealAuthContext,
  });

  /** Counts each call refused because of the grant's or the device's state (or a race lost), then rethrows. */
  const countingConflicts =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      op(...args).catch((e: unknown) => {
        if (e instanceof DomainError && e.code === 'conflict') metrics.grant('conflict');
        throw e;
      });

  /** The post-use rotation an ending queued, as its audit event records it (the job may be one already open, due sooner). */
  type RotationQueued = { rotationJob: string; rotationDueBy: string };

  /**
   * Queues the post-use rotation of a grant that ended. A password revealed under it dies with it,
   * whatever other grants are live on the device (their holders reveal the new one): a colleague's
   * grant must not keep a departed requester's password valid. A grant that never revealed used
   * nothing of its own; its rotation waits until no other live grant remains, as before.
   */
  async function afterUse(tx: Tx, ended: Pick<Grant, 'id' | 'deviceId'>, at: Date): Promise<RotationQueued | undefined> {
    const { deviceId, id: endedGrantId } = ended;
    const dueAt = new Date(at.getTime() + deps.postUseDelaySeconds * 1000);
    const queue = async () => ({ rotationJob: await rotations.enqueue(tx, deviceId, 'post-use', dueAt), rotationDueBy: dueAt.toISOString() });
    // Read again now that this transaction has moved the grant (and holds its row): a first reveal that
    // committed after the caller read the grant must not be missed.
    if ((await grants.findRevealedVersion(tx, endedGrantId)) !== null) return queue();
    const others = await grants.otherActiveOnDevice(tx, deviceId, endedGrantId);
    if (others.some((o) => isLive(o, at))) return undefined;
    return queue();
  }

  /** True when this call expired it; the caller counts it once the transaction has committed. */
  async function expireInTx(tx: Tx, g: Grant, ctx?: RequestContext): Promise<boolean> {
    if (!(await grants.updateIfState(tx, g.id, 'active', { state: 'expired', endedAt: g.expiresAt, endReason: 'expired' }))) return false;
    // Queued first, so that the grant's own end event says which rotation kills its password (its timeline reads it there).
    const queued = await afterUse(tx, g, clock.now());
    await audit.append(tx, {
      actor: { kind: 'system', subject: 'grants' },
      action: 'grant.expired',
      outcome: 'success',
      deviceId: g.deviceId,
      target: `grant:${g.id}`,
      context: ctx,
      ...(queued ? { details: queued } : {}),
    });
    return true;
  }

  /**
   * Ends an open grant that policy or the device no longer allows, in the caller's transaction, through
   * the state machine: pending → denied, active → revoked, each audited, the post-use rotation queued.
   * Returns the state it moved to, or undefined when another request moved the grant first.
   */
  async function endInTx(tx: Tx, g: Grant, ending: GrantEnding): Promise<Ended | undefined> {
    const at = clock.now();
    // Past its expiry already (the expiry job has not run yet): it expired; nobody needs to end it.
    if (g.state === 'active' && !isLive(g, at)) return (await expireInTx(tx, g, ending.context)) ? 'expired' : undefined;
    const event = { actor: ending.actor, deviceId: g.deviceId, target: `grant:${g.id}`, outcome: 'success', reason: ending.reason, context: ending.context } as const;
    if (g.state === 'pending') {
      assertCanMove(g, 'denied');
      const set = { state: 'denied', decidedBy: ending.by, decidedAt: at.toISOString(), decisionComment: ending.reason } as const;
      if (!(await grants.updateIfState(tx, g.id, 'pending', set))) {
        // Approved meanwhile (under the policies as they were): it is active now, and must end as such.
        const now = await grants.findById(tx, g.id);
        return now?.state === 'active' ? endInTx(tx, now, ending) : undefined;
      }
      await audit.append(tx, { ...event, action: 'grant.denied' });
      return 'denied';
    }
    assertCanMove(g, 'revoked');
    if (!(await grants.updateIfState(tx, g.id, 'active', { state: 'revoked', endedBy: ending.by, endedAt: at.toISOString(), endReason: ending.reason }))) return undefined;
    const queued = ending.queueRotation !== false ? await afterUse(tx, g, at) : undefined;
    await audit.append(tx, { ...event, action: 'grant.revoked', ...(queued ? { details: queued } : {}) });
    return 'revoked';
  }

  type Ended = 'denied' | 'revoked' | 'expired';
  /** Counts grants ended in a transaction, once it has committed. */
  function counted(ended: Ended[]): { ended: number; committed: () => void } {
    return { ended: ended.length, committed: () => ended.forEach((state) => metrics.grant(state)) };
  }

  /** The decision the policies as they are now make on a grant's request, for its requester as they were when they asked. */
  function redecide(policies: readonly Policy[], g: Grant, requester: GrantRequester, deviceGroups: readonly string[], approved: boolean) {
    // A grant from before requesters' groups and roles were kept: all that is known is that its own
    // policy designated them, so it stands while that policy (enabled, as it is now) still would.
    const own = policies.find((pol) => pol.id === g.policyId)?.principals;
    const designee = requester.known ? requester : { subject: requester.subject, groups: own?.groups ?? [], roles: own?.roles ?? [] };
    return decideGrant(policies, designee, requestOf(g, deviceGroups, approved));
  }

  /**
   * After a policy was disabled, deleted or narrowed, in the same transaction: each open grant it made
   * that no enabled policy covers any more is ended; one another policy covers is now held under that one.
   */
  async function endGrantsNoPolicyCovers(tx: Tx, policyId: string, ending: Omit<GrantEnding, 'reason'>): Promise<{ ended: number; committed: () => void }> {
    const policies = await deps.policies.enabled(tx);
    const ended: Ended[] = [];
    for (const { grant: g, requester } of await grants.openUnderPolicy(tx, policyId)) {
      const device = await devices.findById(tx, g.deviceId);
      const d = redecide(policies, g, requester, device?.groups ?? [], g.state === 'pending' || approvedOf(g));
      if (d.allow) {
        if (d.policy.id !== policyId) await grants.updateIfState(tx, g.id, g.state, { policyId: d.policy.id });
        continue;
      }
      const state = await endInTx(tx, g, { ...ending, reason: `A policy change: no enabled policy allows this grant any more (${d.reason})` });
      if (state) ended.push(state);
    }
    return counted(ended);
  }

  /** Ends every open grant on a device (its retirement), in the caller's transaction. */
  async function endGrantsOnDevice(tx: Tx, deviceId: string, ending: GrantEnding): Promise<{ ended: number; committed: () => void }> {
    const ended: Ended[] = [];
    for (const g of await grants.openOnDevice(tx, deviceId)) {
      const state = await endInTx(tx, g, ending);
      if (state) ended.push(state);
    }
    return counted(ended);
  }

  /** Asks for elevation; the policy decision and the new grant are audited in the grant's own transaction. */
  async function requestGrant(p: UserPrincipal, req: GrantRequest, ctx: RequestContext): Promise<Grant> {
    requireRole(p, 'requester');
    const durationSeconds = parseDurationSeconds(req.duration);
    if (durationSeconds === undefined) throw new DomainError('invalid-request', `'${req.duration}' is not a positive ISO 8601 duration.`);
    const id = crypto.randomUUID();
    const event = { actor: actorOf(p), action: 'grant.requested', deviceId: req.deviceId, target: `grant:${id}`, context: ctx } as const;
    let expired = 0;
    const outcome = await transactor.run(async (tx) => {
      expired = 0;
      const device = await devices.findById(tx, req.deviceId);
      if (!device) throw new DomainError('not-found', `No device '${req.deviceId}'.`);
      if (device.status !== 'active') throw new DomainError('conflict', `Device '${req.deviceId}' is retired.`);
      const now = clock.now();
      // A grant past its expiry no longer counts as open, even if the expiry job has not run yet.
      for (const open of await grants.openFor(tx, p.subject, req.deviceId)) {
        if (open.state === 'active' && !isLive(open, now)) expired += (await expireInTx(tx, open, ctx)) ? 1 : 0;
        else throw new DomainError('conflict', `You already hold ${open.state} grant ${open.id} on device '${req.deviceId}'.`);
      }
      const decision = decide(await policies.enabled(tx), p, { deviceGroups: device.groups, durationSeconds, ticket: req.ticket });
      if (!decision.allow) return { denied: decision.reason, active: false };
      const active = !decision.requireApproval;
      const at = now.toISOString();
      await grants.insert(
        tx,
        {
          id,
          requester: p.subject,
          requesterName: p.name ?? null,
          deviceId: req.deviceId,
          reason: req.reason,
          ticket: req.ticket ?? null,
          duration: req.duration,
          state: active ? 'active' : 'pending',
          policyId: decision.policy.id,
          createdAt: at,
          activatedAt: active ? at : null,
          expiresAt: active ? new Date(now.getTime() + durationSeconds * 1000).toISOString() : null,
          decidedBy: null,
          decidedAt: null,
          decisionComment: null,
          endedBy: null,
          endedAt: null,
          endReason: null,
          revealedVersion: null,
        },
        // Kept so that approval and policy changes decide this request again for the requester as they asked.
        { groups: p.groups, roles: p.roles, logins: p.logins ?? [] },
      );
      const details = { policy: decision.policy.name, duration: req.duration, ticket: req.ticket ?? null, requireApproval: decision.requireApproval };
      await audit.append(tx, { ...event, outcome: 'success', reason: req.reason, details });
      if (active) await audit.append(tx, { ...event, action: 'grant.activated', outcome: 'success' });
      // Approvers hear of it through the outbox, delivered after the commit; a dead receiver never holds this up.
      else {
        await deps.webhooks.enqueue(tx, 'grant.awaiting-approval', {
          id,
          deviceId: req.deviceId,
          requester: p.subject,
          requesterName: p.name ?? null,
          reason: req.reason,
          ticket: req.ticket ?? null,
          duration: req.duration,
          policy: decision.policy.name,
        });
      }
      return { denied: undefined, active };
    });
    // Counted once committed, like every metric here: a rolled-back unit changed nothing.
    for (let i = 0; i < expired; i++) metrics.grant('expired');
    if (outcome.denied !== undefined) {
      metrics.grant('policy-denied');
      return refuse({ ...event, details: { duration: req.duration } }, new DomainError('policy-denied', outcome.denied));
    }
    metrics.grant('requested');
    if (outcome.active) metrics.grant('activated');
    return (await grants.findById(db, id)) as Grant;
  }

  async function decideInTx(p: UserPrincipal, id: string, ctx: RequestContext, to: 'active' | 'denied', note: string | undefined): Promise<Grant> {
    requireRole(p, 'approver');
    await transactor.run(async (tx) => {
      const found = await grants.findWithRequester(tx, id);
      if (!found) throw new DomainError('not-found', `No grant '${id}'.`);
      const { grant: g, requester } = found;
      // The same person under another object id (a guest in another allowed tenant) has the same sign-in name.
      if (isOwnRequest(requester, p)) {
        throw new DomainError('forbidden', 'A grant must be decided by another person than its requester.');
      }
      assertCanMove(g, to);
      const now = clock.now();
      const at = now.toISOString();
      const target = { actor: actorOf(p), deviceId: g.deviceId, target: `grant:${g.id}`, context: ctx };
      if (to === 'denied') {
        if (!(await grants.updateIfState(tx, id, 'pending', { state: 'denied', decidedBy: p.subject, decidedAt: at, decisionComment: note ?? null })))
          throw new DomainError('conflict', `Grant ${id} was decided by someone else first.`);
        await audit.append(tx, { ...target, action: 'grant.denied', outcome: 'success', reason: note });
        return;
      }
      const device = await devices.findById(tx, g.deviceId);
      if (device?.status !== 'active') throw new DomainError('conflict', `Device '${g.deviceId}' is retired.`);
      // Decided again against the policies as they are now: one disabled, deleted or narrowed since the request no longer allows it.
      const decision = redecide(await policies.enabled(tx), g, requester, device.groups, true);
      if (!decision.allow) throw new DomainError('policy-denied', `No enabled policy allows this request any more: ${decision.reason}`);
      // The clock starts at activation, not at the request: the requester gets the whole duration.
      const expiresAt = new Date(now.getTime() + (parseDurationSeconds(g.duration) ?? 0) * 1000).toISOString();
      if (
        !(await grants.updateIfState(tx, id, 'pending', {
          state: 'active',
          activatedAt: at,
          expiresAt,
          decidedBy: p.subject,
          decidedAt: at,
          decisionComment: note ?? null,
          policyId: decision.policy.id,
        }))
      ) {
        throw new DomainError('conflict', `Grant ${id} was decided by someone else first.`);
      }
      await audit.append(tx, { ...target, action: 'grant.approved', outcome: 'success', reason: note });
      await audit.append(tx, { ...target, action: 'grant.activated', outcome: 'success', details: { expiresAt } });
    });
    if (to === 'denied') metrics.grant('denied');
    else {
      metrics.grant('approved');
      metrics.grant('activated');
    }
    return (await grants.findById(db, id)) as Grant;
  }

  /** An approver (not the requester) activates a pending grant; its clock starts now. */
  const approveGrant = (p: UserPrincipal, id: string, comment: string | undefined, ctx: RequestContext) => decideInTx(p, id, ctx, 'active', comment);
  /** An approver (not the requester) refuses a pending grant. */
  const denyGrant = (p: UserPrincipal, id: string, reason: string, ctx: RequestContext) => decideInTx(p, id, ctx, 'denied', reason);

  /** The requester or an admin ends a grant; a post-use rotation is queued. */
  async function revokeGrant(p: UserPrincipal, id: string, reason: string | undefined, ctx: RequestContext): Promise<Grant> {
    await transactor.run(async (tx) => {
      const g = await grants.findById(tx, id);
      if (!g) throw new DomainError('not-found', `No grant '${id}'.`);
      if (g.requester !== p.subject && !hasRole(p, 'admin')) throw new DomainError('forbidden', "Only the grant's requester or an admin may revoke it.");
      assertCanMove(g, 'revoked');
      const now = clock.now();
      if (!(await grants.updateIfState(tx, id, g.state, { state: 'revoked', endedBy: p.subject, endedAt: now.toISOString(), endReason: reason ?? null }))) {
        throw new DomainError('conflict', `Grant ${id} changed while it was being revoked; read it again.`);
      }
      const queued = g.state === 'active' ? await afterUse(tx, g, now) : undefined;
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'grant.revoked',
        outcome: 'success',
        deviceId: g.deviceId,
        target: `grant:${id}`,
        reason,
        context: ctx,
        ...(queued ? { details: queued } : {}),
      });
    });
    metrics.grant('revoked');
    return (await grants.findById(db, id)) as Grant;
  }

  /** Ends every active grant past its expiry (the job); reveal never depends on it having run. */
  async function expireDueGrants(): Promise<number> {
    const due = await grants.dueForExpiry(db, clock.now().toISOString(), 500);
    for (const g of due) if (await transactor.run((tx) => expireInTx(tx, g))) metrics.grant('expired');
    return due.length;
  }

  function canSeeAll(p: UserPrincipal): boolean {
    return hasRole(p, 'approver') || hasRole(p, 'admin') || hasRole(p, 'auditor');
  }

  async function getGrant(p: UserPrincipal, id: string): Promise<Grant> {
    requireRole(p, 'requester', 'approver', 'admin', 'auditor');
    const g = await grants.findById(db, id);
    if (!g || (!canSeeAll(p) && g.requester !== p.subject)) throw new DomainError('not-found', `No grant '${id}' that you may see.`);
    return g;
  }

  type GrantFilter = { state?: string; deviceId?: string; requester?: string; cursor?: string; limit: number; decidable?: boolean; order?: 'oldest' | 'newest' };

  /**
   * A page of grants: a requester's own, whatever filter they send; everyone's for approvers, admins
   * and auditors. `decidable`: an approver's queue, the pending grants they may decide, never one
   * they asked for themselves (approveGrant's own rule, isOwnRequest).
   */
  async function listGrants(p: UserPrincipal, f: GrantFilter): Promise<Page<Grant>> {
    requireRole(p, 'requester', 'approver', 'admin', 'auditor');
    if (f.decidable) {
      requireRole(p, 'approver');
      if (f.state !== undefined && f.state !== 'pending') {
        throw new DomainError('invalid-request', 'Only pending grants can be decided: decidable=true goes with state=pending or no state.', {
          errors: [{ path: 'query.state', message: 'must be pending with decidable=true' }],
        });
      }
    }
    // A requester sees only their own grants, whatever filter they send.
    const requester = canSeeAll(p) ? f.requester : p.subject;
    const filter = { state: f.decidable ? 'pending' : f.state, deviceId: f.deviceId, requester, newestFirst: f.order === 'newest' };
    return keysetPage(
      f,
      ['string', 'string'],
      (after, limit) => (f.decidable ? decidableBatch(p, filter, after, limit) : grants.list(db, { ...filter, after, limit })),
      (g) => [g.createdAt, g.id],
    );
  }

  /** Up to `limit` pending grants `p` may decide after `after`: read a batch at a time, past the ones that are their own. */
  async function decidableBatch(
    p: UserPrincipal,
    filter: { deviceId?: string; requester?: string; newestFirst?: boolean },
    after: readonly [string, string] | undefined,
    limit: number,
  ): Promise<Grant[]> {
    const out: Grant[] = [];
    let from = after;
    for (;;) {
      const batch = await grants.listWithRequesters(db, { ...filter, state: 'pending', exceptRequester: p.subject, after: from, limit });
      out.push(...batch.filter((r) => !isOwnRequest(r.requester, p)).map((r) => r.grant));
      const last = batch[batch.length - 1]?.grant;
      if (out.length >= limit || batch.length < limit || !last) return out.slice(0, limit);
      from = [last.createdAt, last.id];
    }
  }

  return {
    requestGrant: countingConflicts(requestGrant),
    approveGrant: countingConflicts(approveGrant),
    denyGrant: countingConflicts(denyGrant),
    revokeGrant: countingConflicts(revokeGrant),
    revealPassword: reveal.revealPassword,
    expireDueGrants,
    endGrantsNoPolicyCovers,
    endGrantsOnDevice,
    getGrant,
    listGrants,
    grantTimeline: createGrantTimeline({ getGrant, audit, credentials }).grantTimeline,
  };
}

export type GrantService = ReturnType<typeof createGrantService>;
