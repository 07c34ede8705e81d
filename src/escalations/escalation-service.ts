import crypto from 'node:crypto';
import { RequestContext } from '../audit/audit-event';
import { actorOf } from '../audit/actor';
import { AuditLog } from '../audit/audit-log';
import { Role, UserPrincipal, hasRole } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Page, keysetPage } from '../store/paging';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { WebhookService } from '../webhooks/webhook-service';
import { Escalation, EscalationStatus, assertCanMoveEscalation, escalationFromRow } from './escalation';

export interface EscalationSettings {
  /** Roles whose holders may file (the designated support staff). */
  allowedRoles: readonly Role[];
  /** When not empty, a filer must also be in one of these groups (admins excepted). */
  allowedGroups: readonly string[];
  /** Category → destination key: what kind of problem goes where. */
  categories: Readonly<Record<string, string>>;
  /** Destination key → who that is, as the filer reads it. */
  destinations: Readonly<Record<string, string>>;
  /** Where a category not in `categories` goes: the organisation's existing support channel. */
  defaultDestination: string;
}

export interface FileEscalation {
  /** Only C is filed; anything else is refused with a pointer to the IT admin. */
  severity: string;
  category: string;
  summary: string;
  details?: string;
  deviceId?: string;
  ticket?: string;
}

/**
 * The escalation portal: designated staff file low-severity (Sev C) escalations, routed by
 * category to the service's operations team, the hardware vendor or the organisation's own
 * support channel. Higher severities go through an IT admin, not through this portal.
 */
export function createEscalationService(deps: {
  db: Db;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  webhooks: Pick<WebhookService, 'enqueue'>;
  clock: Clock;
  settings: EscalationSettings;
}) {
  const { db, transactor, audit, webhooks, clock, settings } = deps;
  const view = (r: Parameters<typeof escalationFromRow>[0]) => escalationFromRow(r, settings.destinations);

  function requireDesignated(p: UserPrincipal): void {
    const byRole = settings.allowedRoles.some((r) => hasRole(p, r));
    const byGroup = settings.allowedGroups.length === 0 || hasRole(p, 'admin') || settings.allowedGroups.some((g) => p.groups.includes(g));
    if (!byRole || !byGroup) throw new DomainError('forbidden', 'You are not designated to file escalations here; ask your IT admin.');
  }

  /** Files a Sev C escalation, routed by its category; audited and announced (webhooks) in the same transaction. */
  async function fileEscalation(p: UserPrincipal, input: FileEscalation, ctx: RequestContext): Promise<Escalation> {
    requireDesignated(p);
    if (input.severity !== 'C') {
      throw new DomainError(
        'severity-not-accepted',
        `Severity ${input.severity} is not filed here: only severity C is. Contact your IT admin, who escalates severity A and B incidents to the operations team.`,
      );
    }
    // "Anything else → the organisation's existing support channel": an unlisted category is routed, not refused.
    const routedTo = Object.hasOwn(settings.categories, input.category) ? (settings.categories[input.category] as string) : settings.defaultDestination;
    const id = crypto.randomUUID();
    const now = clock.now().toISOString();
    const row = {
      id,
      submitter: p.subject,
      submitter_name: p.name ?? null,
      severity: 'C',
      category: input.category,
      summary: input.summary,
      details: input.details ?? null,
      device_id: input.deviceId ?? null,
      ticket: input.ticket ?? null,
      status: 'submitted' as const,
      routed_to: routedTo,
      status_note: null,
      created_at: now,
      updated_at: now,
    };
    await transactor.run(async (tx) => {
      await tx.insertInto('escalations').values(row).execute();
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'escalation.submitted',
        outcome: 'success',
        deviceId: input.deviceId,
        target: `escalation:${id}`,
        reason: input.summary,
        details: { severity: 'C', category: input.category, routedTo, ticket: input.ticket ?? null },
        context: ctx,
      });
      await webhooks.enqueue(tx, 'escalation.submitted', { ...view(row) });
    });
    return view(row);
  }

  async function getEscalation(p: UserPrincipal, id: string): Promise<Escalation> {
    const r = await db.selectFrom('escalations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r || (!hasRole(p, 'admin') && r.submitter !== p.subject)) throw new DomainError('not-found', `No escalation '${id}' that you may see.`);
    return view(r);
  }

  /** Your own escalations, or everyone's for an admin; newest first. */
  async function listEscalations(p: UserPrincipal, f: { status?: EscalationStatus; cursor?: string; limit: number }): Promise<Page<Escalation>> {
    const page = await keysetPage(
      f,
      ['string', 'string'],
      (after, limit) => {
        let q = db.selectFrom('escalations').selectAll();
        if (!hasRole(p, 'admin')) q = q.where('submitter', '=', p.subject);
        if (f.status) q = q.where('status', '=', f.status);
        if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after[0]), eb.and([eb('created_at', '=', after[0]), eb('id', '<', after[1])])]));
        return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
      },
      (r) => [r.created_at, r.id],
    );
    return { ...page, items: page.items.map(view) };
  }

  /** An admin moves an escalation along its lifecycle (submitted → acknowledged → resolved | rejected); audited. */
  async function setStatus(p: UserPrincipal, id: string, status: EscalationStatus, note: string | undefined, ctx: RequestContext): Promise<Escalation> {
    if (!hasRole(p, 'admin')) throw new DomainError('forbidden', 'Only an admin changes the status of an escalation.');
    await transactor.run(async (tx) => {
      const r = await tx.selectFrom('escalations').selectAll().where('id', '=', id).executeTakeFirst();
      if (!r) throw new DomainError('not-found', `No escalation '${id}'.`);
      assertCanMoveEscalation(r, status);
      const moved = await tx
        .updateTable('escalations')
        .set({ status, status_note: note ?? null, updated_at: clock.now().toISOString() })
        .where('id', '=', id)
        .where('status', '=', r.status)
        .executeTakeFirst();
      if (moved.numUpdatedRows === 0n) throw new DomainError('conflict', `Escalation ${id} changed while it was being updated; read it again.`);
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'escalation.status-changed',
        outcome: 'success',
        deviceId: r.device_id ?? undefined,
        target: `escalation:${id}`,
        reason: note,
        details: { from: r.status, to: status },
        context: ctx,
      });
      await webhooks.enqueue(tx, 'escalation.status-changed', { id, from: r.status, to: status, note: note ?? null });
    });
    return getEscalation(p, id);
  }

  return { fileEscalation, getEscalation, listEscalations, setStatus };
}

export type EscalationService = ReturnType<typeof createEscalationService>;
