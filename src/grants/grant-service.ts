import crypto from 'node:crypto';
import { sql } from 'kysely';
import { AuditInput, RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { CredentialService } from '../credentials/credential-service';
import { RotationService } from '../credentials/rotation-service';
import { Secret } from '../credentials/secret';
import { createDeviceRepository } from '../devices/device-repository';
import { UserPrincipal, hasRole, requireRole } from '../identity/principal';
import { StepUpRequired, satisfiesAuthContext } from '../identity/step-up';
import { decide } from '../policies/policy';
import { PolicyService } from '../policies/policy-service';
import { Metrics } from '../metrics/metrics';
import { DomainError, problems } from '../problems/problem';
import { Db } from '../store/database';
import { Page, decodeCursor, encodeCursor } from '../store/paging';
import { Transactor, Tx } from '../store/transactor';
import { Clock } from '../time/clock';
import { WebhookService } from '../webhooks/webhook-service';
import { parseDurationSeconds } from '../time/duration';
import { Grant, assertCanMove, isLive } from './grant';
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
}

/** A refusal whose audit event is already committed; the HTTP layer must not audit it again. */
export class AuditedRefusal extends DomainError {
  readonly audited = true;
}

/** The grant state machine: request, approve, deny, revoke, expire, and the audited reveal. */
export function createGrantService(deps: {
  db: Db;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  policies: Pick<PolicyService, 'enabledPolicies'>;
  credentials: Pick<CredentialService, 'readSecret'>;
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
    throw new AuditedRefusal(error.code, error.message);
  }

  /** Counts each call refused because of the grant's or the device's state (or a race lost), then rethrows. */
  const countingConflicts =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      op(...args).catch((e: unknown) => {
        if (e instanceof DomainError && e.code === 'conflict') metrics.grant('conflict');
        throw e;
      });

  /** Queues the post-use rotation once no other live grant on the device still uses the password. */
  async function afterUse(tx: Tx, deviceId: string, endedGrantId: string, at: Date): Promise<void> {
    const others = await tx
      .selectFrom('grants')
      .select(['id', 'state', 'expires_at'])
      .where('device_id', '=', deviceId)
      .where('state', '=', 'active')
      .where('id', '!=', endedGrantId)
      .execute();
    if (others.some((o) => isLive({ state: o.state, expiresAt: o.expires_at }, at))) return;
    await rotations.enqueue(tx, deviceId, 'post-use', new Date(at.getTime() + deps.postUseDelaySeconds * 1000));
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
    await afterUse(tx, g.deviceId, g.id, clock.now());
    return true;
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
      const decision = decide(await policies.enabledPolicies(tx), p, { deviceGroups: device.groups, durationSeconds, ticket: req.ticket });
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
      const g = await grants.findById(tx, id);
      if (!g) throw new DomainError('not-found', `No grant '${id}'.`);
      if (g.requester === p.subject) throw new DomainError('forbidden', 'A grant must be decided by another person than its requester.');
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
      if (g.state === 'active') await afterUse(tx, g.deviceId, g.id, now);
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
    const { grant: g, account, versions } = found;
    const event = { actor: actorOf(p), action: 'grant.password-revealed', deviceId: g.deviceId, target: `grant:${id}`, context: ctx } as const;
    if (g.requester !== p.subject) return refuse(event, new DomainError('forbidden', "Only the grant's requester may read its password."));
    if (!isLive(g, clock.now())) {
      const why = g.state === 'active' ? 'has expired' : `is ${g.state}`;
      return refuse(event, new DomainError('conflict', `Grant ${id} ${why}; no password is revealed.`));
    }
    if (!satisfiesAuthContext(p, deps.revealAuthContext)) {
      // Step-up: a valid token is not enough to see a password; the refusal is audited, then challenged.
      const stepUp = new StepUpRequired(deps.revealAuthContext as string, 'Revealing a password', true);
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
          // A pending version a requester has seen is a used password: a rotation asked for after
          // this use must not be satisfied by it (the rotation worker reads this mark).
          if (pending) {
            await tx
              .updateTable('credential_versions')
              .set({ revealed_at: sql<string>`coalesce(revealed_at, ${now.toISOString()})` })
              .where('device_id', '=', g.deviceId)
              .where('version', '=', pending.version)
              .execute();
          }
          await audit.append(tx, {
            ...event,
            outcome: 'success',
            ...(pending
              ? { reason: `version ${pending.version} was fetched by the device and not acknowledged within the ack timeout; it may be in effect and was revealed too` }
              : {}),
            details: { version: shown.version, unconfirmed: shown === pending, possiblyInEffect: alsoPending?.version ?? null },
          });
        },
        // The audit event is this unit's last statement, and its only write unless a pending version is shown.
        { singleWrite: !pending },
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
    const after = decodeCursor(f.cursor, ['string', 'string']);
    const rows = await grants.list(db, { state: f.state, deviceId: f.deviceId, requester, after, limit: f.limit + 1 });
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page, nextCursor: rows.length > f.limit && last ? encodeCursor([last.createdAt, last.id]) : null };
  }

  return {
    requestGrant: countingConflicts(requestGrant),
    approveGrant: countingConflicts(approveGrant),
    denyGrant: countingConflicts(denyGrant),
    revokeGrant: countingConflicts(revokeGrant),
    revealPassword,
    expireDueGrants,
    getGrant,
    listGrants,
  };
}

export type GrantService = ReturnType<typeof createGrantService>;
