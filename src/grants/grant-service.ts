import crypto from 'node:crypto';
import { AuditActor, AuditInput, RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { CredentialService } from '../credentials/credential-service';
import { RotationService } from '../credentials/rotation-service';
import { Secret } from '../secrets/secret';
import { createDeviceRepository } from '../devices/device-repository';
import { UserPrincipal, hasRole, requireRole, sharesLogin } from '../identity/principal';
import { satisfiesAuthContext, stepUpRequired } from '../identity/step-up';
import { Policy, decide, decideGrant } from '../policies/policy';
import { PolicyRepository } from '../policies/policy-repository';
import { Metrics } from '../metrics/metrics';
import { DomainError, problems } from '../problems/problem';
import { Db } from '../store/database';
import { Page, keysetPage } from '../store/paging';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { WebhookService } from '../webhooks/webhook-service';
import { parseDurationSeconds } from '../time/duration';
import { Grant, GrantRequester, assertCanMove, isLive } from './grant';
import { createGrantRepository } from './grant-repository';

export interface GrantRequest {
  deviceId: string;
  reason: string;
  ticket?: string;
  duration: string;
}

export interface Reveal {
  deviceId: string;
  account: string;
  password: Secret;
  version: number;
  expiresAt: string;
  /** The password is a pending version the device fetched but never confirmed (there is no confirmed one). */
  unconfirmed?: boolean;
  /** A newer version the device fetched and never confirmed within rotation.ackTimeout: it may be the one in effect. */
  possiblyInEffect?: { version: number; password: Secret; fetchedAt: string };
  /**
   * The password changed since it was last shown under this grant (a colleague's grant ended and the
   * device rotated): the one shown before no longer works.
   */
  changedSinceLastReveal?: { previousVersion: number };
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
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  policies: Pick<PolicyRepository, 'enabled'>;
  credentials: Pick<CredentialService, 'readSecret' | 'markRevealed'>;
  rotations: Pick<RotationService, 'enqueue'>;
  clock: Clock;
  postUseDelaySeconds: number;
  ackTimeoutSeconds: number;
  webhooks: Pick<WebhookService, 'enqueue'>;
  metrics: Pick<Metrics, 'grant' | 'reveal'>;
  /** An authentication context (Entra `acrs`) a principal's sign-in must satisfy to reveal a password. */
  revealAuthContext?: string;
}) {
  const { db, transactor, audit, policies, credentials, rotations, clock, metrics } = deps;
  const grants = createGrantRepository(db);
  const devices = createDeviceRepository(db);

  /** Commits the refusal's audit event on its own, then throws: a refusal is never unaudited. */
  async function refuse(event: Omit<AuditInput, 'outcome'>, error: DomainError, outcome: 'denied' | 'failure' = 'denied'): Promise<never> {
    await transactor.run((tx) => audit.append(tx, { ...event, outcome, reason: error.message }));
    // Committed above: the HTTP layer must not audit it again.
    throw new DomainError(error.code, error.message, { alreadyAudited: true });
  }

  /** Counts each call refused because of the grant's or the device's state (or a race lost), then rethrows. */
  const countingConflicts =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      op(...args).catch((e: unknown) => {
        if (e instanceof DomainError && e.code === 'conflict') metrics.grant('conflict');
        throw e;
      });

  /**
   * Queues the post-use rotation of a grant that ended. A password revealed under it dies with it,
   * whatever other grants are live on the device (their holders reveal the new one): a colleague's
   * grant must not keep a departed requester's password valid. A grant that never revealed used
   * nothing of its own; its rotation waits until no other live grant remains, as before.
   */
  async function afterUse(tx: Tx, ended: Pick<Grant, 'id' | 'deviceId'>, at: Date): Promise<void> {
    const { deviceId, id: endedGrantId } = ended;
    const dueAt = new Date(at.getTime() + deps.postUseDelaySeconds * 1000);
    // Read again now that this transaction has moved the grant (and holds its row): a first reveal that
    // committed after the caller read the grant must not be missed.
    if ((await grants.findRevealedVersion(tx, endedGrantId)) !== null) return void (await rotations.enqueue(tx, deviceId, 'post-use', dueAt));
    const others = await tx
      .selectFrom('grants')
      .select(['id', 'state', 'expires_at'])
      .where('device_id', '=', deviceId)
      .where('state', '=', 'active')
      .where('id', '!=', endedGrantId)
      .execute();
    if (others.some((o) => isLive({ state: o.state, expiresAt: o.expires_at }, at))) return;
    await rotations.enqueue(tx, deviceId, 'post-use', dueAt);
  }

  /** True when this call expired it; the caller counts it once the transaction has committed. */
  async function expireInTx(tx: Tx, g: Grant, ctx?: RequestContext): Promise<boolean> {
    if (!(await grants.updateIfState(tx, g.id, 'active', { state: 'expired', ended_at: g.expiresAt, end_reason: 'expired' }))) return false;
    await audit.append(tx, {
      actor: { kind: 'system', subject: 'grants' },
      action: 'grant.expired',
      outcome: 'success',
      deviceId: g.deviceId,
      target: `grant:${g.id}`,
      context: ctx,
    });
    await afterUse(tx, g, clock.now());
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
      const set = { state: 'denied', decided_by: ending.by, decided_at: at.toISOString(), decision_comment: ending.reason } as const;
      if (!(await grants.updateIfState(tx, g.id, 'pending', set))) {
        // Approved meanwhile (under the policies as they were): it is active now, and must end as such.
        const now = await grants.findById(tx, g.id);
        return now?.state === 'active' ? endInTx(tx, now, ending) : undefined;
      }
      await audit.append(tx, { ...event, action: 'grant.denied' });
      return 'denied';
    }
    assertCanMove(g, 'revoked');
    if (!(await grants.updateIfState(tx, g.id, 'active', { state: 'revoked', ended_by: ending.by, ended_at: at.toISOString(), end_reason: ending.reason }))) return undefined;
    await audit.append(tx, { ...event, action: 'grant.revoked' });
    if (ending.queueRotation !== false) await afterUse(tx, g, at);
    return 'revoked';
  }

  type Ended = 'denied' | 'revoked' | 'expired';
  /** Counts grants ended in a transaction, once it has committed. */
  function counted(ended: Ended[]): { ended: number; committed: () => void } {
    return { ended: ended.length, committed: () => ended.forEach((state) => metrics.grant(state)) };
  }

  const approvedOf = (g: Grant) => g.decidedBy !== null;
  /** A grant's request, as a decision reads it; a duration that no longer parses (past the bound) is allowed by no policy. */
  const requestOf = (g: Grant, deviceGroups: readonly string[], approved: boolean) => ({
    deviceGroups,
    durationSeconds: parseDurationSeconds(g.duration) ?? Number.POSITIVE_INFINITY,
    ticket: g.ticket ?? undefined,
    approved,
  });

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
        if (d.policy.id !== policyId) await grants.updateIfState(tx, g.id, g.state, { policy_id: d.policy.id });
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
      await grants.insert(tx, {
        id,
        requester: p.subject,
        requester_name: p.name ?? null,
        device_id: req.deviceId,
        reason: req.reason,
        ticket: req.ticket ?? null,
        duration: req.duration,
        state: active ? 'active' : 'pending',
        policy_id: decision.policy.id,
        created_at: at,
        activated_at: active ? at : null,
        expires_at: active ? new Date(now.getTime() + durationSeconds * 1000).toISOString() : null,
        decided_by: null,
        decided_at: null,
        decision_comment: null,
        ended_by: null,
        ended_at: null,
        end_reason: null,
        // Kept so that approval and policy changes decide this request again for the requester as they asked.
        requester_groups: JSON.stringify(p.groups),
        requester_roles: JSON.stringify(p.roles),
        requester_logins: JSON.stringify(p.logins ?? []),
        revealed_version: null,
      });
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
      if (g.requester === p.subject || sharesLogin(requester.logins, p.logins)) {
        throw new DomainError('forbidden', 'A grant must be decided by another person than its requester.');
      }
      assertCanMove(g, to);
      const now = clock.now();
      const at = now.toISOString();
      const target = { actor: actorOf(p), deviceId: g.deviceId, target: `grant:${g.id}`, context: ctx };
      if (to === 'denied') {
        if (!(await grants.updateIfState(tx, id, 'pending', { state: 'denied', decided_by: p.subject, decided_at: at, decision_comment: note ?? null })))
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
          activated_at: at,
          expires_at: expiresAt,
          decided_by: p.subject,
          decided_at: at,
          decision_comment: note ?? null,
          policy_id: decision.policy.id,
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
      if (!(await grants.updateIfState(tx, id, g.state, { state: 'revoked', ended_by: p.subject, ended_at: now.toISOString(), end_reason: reason ?? null }))) {
        throw new DomainError('conflict', `Grant ${id} changed while it was being revoked; read it again.`);
      }
      await audit.append(tx, { actor: actorOf(p), action: 'grant.revoked', outcome: 'success', deviceId: g.deviceId, target: `grant:${id}`, reason, context: ctx });
      if (g.state === 'active') await afterUse(tx, g, now);
    });
    metrics.grant('revoked');
    return (await grants.findById(db, id)) as Grant;
  }

  /** The password, only to the grant's requester inside a live grant, and only after the reveal is audited. */
  async function revealPassword(p: UserPrincipal, id: string, ctx: RequestContext): Promise<Reveal> {
    try {
      const reveal = await revealAudited(p, id, ctx);
      metrics.reveal('revealed');
      return reveal;
    } catch (e) {
      // No acknowledged password on the device is, like a vault or audit failure, a password that could not be served.
      const refused = e instanceof DomainError && e.code !== 'no-current-password' && problems[e.code].status < 500;
      metrics.reveal(refused ? 'refused' : 'unavailable');
      throw e;
    }
  }

  async function revealAudited(p: UserPrincipal, id: string, ctx: RequestContext): Promise<Reveal> {
    requireRole(p, 'requester');
    const found = await grants.findForReveal(db, id);
    // Asking for the password of a grant that does not exist is audited too: it is how ids are probed.
    if (!found) return refuse({ actor: actorOf(p), action: 'grant.password-revealed', target: `grant:${id}`, context: ctx }, new DomainError('not-found', `No grant '${id}'.`));
    const { grant: g, account, deviceGroups, versions } = found;
    const event = { actor: actorOf(p), action: 'grant.password-revealed', deviceId: g.deviceId, target: `grant:${id}`, context: ctx } as const;
    if (g.requester !== p.subject) return refuse(event, new DomainError('forbidden', "Only the grant's requester may read its password."));
    if (!isLive(g, clock.now())) {
      const why = g.state === 'active' ? 'has expired' : `is ${g.state}`;
      return refuse(event, new DomainError('conflict', `Grant ${id} ${why}; no password is revealed.`));
    }
    // The policies as they are now, for the requester as they sign in now: a grant no enabled policy
    // allows any more (a group left, a policy changed on another daemon a moment ago) reveals nothing.
    const decision = decideGrant(await policies.enabled(db), p, requestOf(g, deviceGroups, approvedOf(g)));
    if (!decision.allow) return refuse(event, new DomainError('policy-denied', `No enabled policy allows this grant any more: ${decision.reason}`));
    if (!satisfiesAuthContext(p, deps.revealAuthContext)) {
      // Step-up: a valid token is not enough to see a password; the refusal is audited, then challenged.
      const stepUp = stepUpRequired(deps.revealAuthContext as string, 'Revealing a password', { alreadyAudited: true });
      await transactor.run((tx) => audit.append(tx, { ...event, outcome: 'denied', reason: stepUp.message }), { singleWrite: true });
      throw stepUp;
    }
    const now = clock.now();
    const current = versions.find((v) => v.state === 'current');
    // A lost acknowledgement must not leave the requester without a working password: a version the
    // agent fetched and never confirmed within ackTimeout may be the one the device now has.
    const pending = versions.find((v) => v.state === 'pending' && v.fetched_at !== null && now.getTime() - Date.parse(v.fetched_at) >= deps.ackTimeoutSeconds * 1000);
    const shown = current ?? pending;
    if (!shown) return refuse(event, new DomainError('no-current-password', `Device '${g.deviceId}' has no acknowledged password yet; its agent has not set one.`), 'failure');
    const alsoPending = current && pending ? pending : undefined;
    // The first reveal of a version under this grant marks it used (it then dies with the grant) and tells
    // a holder who saw an older one that it changed; later reveals of the same version write only their event.
    const firstOfVersion = g.revealedVersion !== shown.version;
    const changed = g.revealedVersion !== null && firstOfVersion ? { previousVersion: g.revealedVersion } : undefined;
    const used = [...new Set([...(firstOfVersion ? [shown.version] : []), ...(pending ? [pending.version] : [])])];
    // Read before the audit event is written, so an unreadable vault leaves no record of a reveal that did not happen.
    let secret: Secret;
    let pendingSecret: Secret | undefined;
    try {
      [secret, pendingSecret] = await Promise.all([credentials.readSecret(shown), alsoPending ? credentials.readSecret(alsoPending) : undefined]);
    } catch (e) {
      // The attempt is on record as failed (nothing was revealed); the caller gets the vault's 503.
      if (e instanceof DomainError && e.code === 'unavailable') return refuse(event, e, 'failure');
      throw e;
    }
    // A marker, not an Error: building one (and its stack) on every reveal costs more than the check it reports.
    const ended = Symbol('grant ended');
    await transactor
      .run(
        async (tx) => {
          // Re-read inside the transaction: a revoke or expiry that committed first wins.
          const fresh = await grants.findLiveness(tx, id);
          if (!fresh || !isLive(fresh, clock.now())) throw ended;
          // A version a requester has seen is a used password: a pending one must not satisfy a rotation
          // asked for after this use (the rotation worker reads this mark), and a device whose current one
          // was seen is not retired silently.
          if (used.length > 0) await credentials.markRevealed(tx, g.deviceId, used, now);
          if (firstOfVersion) await grants.markRevealed(tx, id, shown.version);
          await audit.append(tx, {
            ...event,
            outcome: 'success',
            ...(pending
              ? { reason: `version ${pending.version} was fetched by the device and not acknowledged within the ack timeout; it may be in effect and was revealed too` }
              : {}),
            details: {
              version: shown.version,
              unconfirmed: shown === pending,
              possiblyInEffect: alsoPending?.version ?? null,
              ...(changed ? { changedSinceLastReveal: true, previousVersion: changed.previousVersion } : {}),
            },
          });
        },
        // The audit event is this unit's last statement, and its only write unless a version is marked used
        // (a first reveal of a version always is).
        { singleWrite: used.length === 0 },
      )
      .catch((e: unknown) => (e === ended ? refuse(event, new DomainError('conflict', `Grant ${id} ended; no password is revealed.`)) : Promise.reject(e)));
    return {
      deviceId: g.deviceId,
      account: account ?? 'localadmin',
      password: secret,
      version: shown.version,
      expiresAt: g.expiresAt as string,
      ...(shown === pending ? { unconfirmed: true } : {}),
      ...(alsoPending && pendingSecret ? { possiblyInEffect: { version: alsoPending.version, password: pendingSecret, fetchedAt: alsoPending.fetched_at as string } } : {}),
      ...(changed ? { changedSinceLastReveal: changed } : {}),
    };
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

  async function listGrants(p: UserPrincipal, f: { state?: string; deviceId?: string; requester?: string; cursor?: string; limit: number }): Promise<Page<Grant>> {
    requireRole(p, 'requester', 'approver', 'admin', 'auditor');
    // A requester sees only their own grants, whatever filter they send.
    const requester = canSeeAll(p) ? f.requester : p.subject;
    return keysetPage(
      f,
      ['string', 'string'],
      (after, limit) => grants.list(db, { state: f.state, deviceId: f.deviceId, requester, after, limit }),
      (g) => [g.createdAt, g.id],
    );
  }

  return {
    requestGrant: countingConflicts(requestGrant),
    approveGrant: countingConflicts(approveGrant),
    denyGrant: countingConflicts(denyGrant),
    revokeGrant: countingConflicts(revokeGrant),
    revealPassword,
    expireDueGrants,
    endGrantsNoPolicyCovers,
    endGrantsOnDevice,
    getGrant,
    listGrants,
  };
}

export type GrantService = ReturnType<typeof createGrantService>;
