import { RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { CredentialService } from '../credentials/credential-service';
import { versionsToShow } from '../credentials/credential-version';
import { UserPrincipal, requireRole } from '../identity/principal';
import { satisfiesAuthContext, stepUpRequired } from '../identity/step-up';
import { Metrics } from '../metrics/metrics';
import { decideGrant } from '../policies/policy';
import { PolicyRepository } from '../policies/policy-repository';
import { DomainError, problems } from '../problems/problem';
import { Secret } from '../secrets/secret';
import { Db } from '../store/database';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { approvedOf, isLive, requestOf } from './grant';
import { Refuse } from './grant-refusal';
import { GrantRepository } from './grant-repository';

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

/** The audited reveal of a grant's password: the one place a user's password leaves the broker. */
export function createGrantReveal(deps: {
  db: Db;
  grants: Pick<GrantRepository, 'findForReveal' | 'findLiveness' | 'markRevealed'>;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  policies: Pick<PolicyRepository, 'enabled'>;
  credentials: Pick<CredentialService, 'readSecret' | 'markRevealed'>;
  clock: Clock;
  ackTimeoutSeconds: number;
  metrics: Pick<Metrics, 'reveal'>;
  refuse: Refuse;
  /** An authentication context (Entra `acrs`) a principal's sign-in must satisfy to reveal a password. */
  revealAuthContext?: string;
}) {
  const { db, grants, transactor, audit, policies, credentials, clock, metrics, refuse } = deps;

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
    const { shown, pending, alsoPending } = versionsToShow(versions, now, deps.ackTimeoutSeconds);
    if (!shown) return refuse(event, new DomainError('no-current-password', `Device '${g.deviceId}' has no acknowledged password yet; its agent has not set one.`), 'failure');
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
      ...(alsoPending && pendingSecret ? { possiblyInEffect: { version: alsoPending.version, password: pendingSecret, fetchedAt: alsoPending.fetchedAt as string } } : {}),
      ...(changed ? { changedSinceLastReveal: changed } : {}),
    };
  }

  return { revealPassword };
}

export type GrantReveal = ReturnType<typeof createGrantReveal>;
