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
import { Escalation, EscalationRecord, EscalationStatus, assertCanMoveEscalation, escalationView } from './escalation';
import { EscalationRepository } from './escalation-repository';

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

/** What the escalation form shows before sending: who may file, and where each category goes. */
export interface EscalationRouting {
  mayFile: boolean;
  reason?: string;
  /** Only C: A and B go through an IT admin. */
  severities: readonly ['C'];
  categories: Array<{ category: string; routedTo: string; routedToName: string }>;
  /** Where a category not listed goes. */
  otherwise: { routedTo: string; routedToName: string };
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
  escalations: EscalationRepository;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  webhooks: Pick<WebhookService, 'enqueue'>;
  clock: Clock;
  settings: EscalationSettings;
}) {
  const { db, escalations, transactor, audit, webhooks, clock, settings } = deps;
  const view = (e: EscalationRecord) => escalationView(e, settings.destinations);

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
    const filed: EscalationRecord = {
      id,
      submitter: p.subject,
      submitterName: p.name ?? null,
      severity: 'C',
      category: input.category,
      summary: input.summary,
      details: input.details ?? null,
      deviceId: input.deviceId ?? null,
      ticket: input.ticket ?? null,
      status: 'submitted',
      routedTo,
      statusNote: null,
      createdAt: now,
      updatedAt: now,
    };
    await transactor.run(async (tx) => {
      await escalations.insert(tx, filed);
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
      await webhooks.enqueue(tx, 'escalation.submitted', { ...view(filed) });
    });
    return view(filed);
  }

  /**
   * Where each category goes, shown before anything is sent, and whether this caller may file at
   * all (the portal explains a refusal instead of offering a form that will be refused).
   */
  function routing(p: UserPrincipal): EscalationRouting {
    let refusal: string | undefined;
    try {
      requireDesignated(p);
    } catch (e) {
      refusal = (e as DomainError).message;
    }
    const destination = (key: string) => ({ routedTo: key, routedToName: settings.destinations[key] ?? key });
    return {
      mayFile: refusal === undefined,
      ...(refusal ? { reason: refusal } : {}),
      severities: ['C'],
      categories: Object.entries(settings.categories).map(([category, key]) => ({ category, ...destination(key) })),
      otherwise: destination(settings.defaultDestination),
    };
  }

  async function getEscalation(p: UserPrincipal, id: string): Promise<Escalation> {
    const r = await escalations.findById(db, id);
    if (!r || (!hasRole(p, 'admin') && r.submitter !== p.subject)) throw new DomainError('not-found', `No escalation '${id}' that you may see.`);
    return view(r);
  }

  /** Your own escalations, or everyone's for an admin; newest first. */
  async function listEscalations(p: UserPrincipal, f: { status?: EscalationStatus; cursor?: string; limit: number }): Promise<Page<Escalation>> {
    const page = await keysetPage(
      f,
      ['string', 'string'],
      (before, limit) => escalations.list(db, { submitter: hasRole(p, 'admin') ? undefined : p.subject, status: f.status, before, limit }),
      (e) => [e.createdAt, e.id],
    );
    return { ...page, items: page.items.map(view) };
  }

  /** An admin moves an escalation along its lifecycle (submitted → acknowledged → resolved | rejected); audited. */
  async function setStatus(p: UserPrincipal, id: string, status: EscalationStatus, note: string | undefined, ctx: RequestContext): Promise<Escalation> {
    if (!hasRole(p, 'admin')) throw new DomainError('forbidden', 'Only an admin changes the status of an escalation.');
    await transactor.run(async (tx) => {
      const r = await escalations.findById(tx, id);
      if (!r) throw new DomainError('not-found', `No escalation '${id}'.`);
      assertCanMoveEscalation(r, status);
      if (!(await escalations.moveIfStatus(tx, id, r.status, { status, statusNote: note ?? null, updatedAt: clock.now().toISOString() })))
        throw new DomainError('conflict', `Escalation ${id} changed while it was being updated; read it again.`);
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'escalation.status-changed',
        outcome: 'success',
        deviceId: r.deviceId ?? undefined,
        target: `escalation:${id}`,
        reason: note,
        details: { from: r.status, to: status },
        context: ctx,
      });
      await webhooks.enqueue(tx, 'escalation.status-changed', { id, from: r.status, to: status, note: note ?? null });
    });
    return getEscalation(p, id);
  }

  return { fileEscalation, routing, getEscalation, listEscalations, setStatus };
}

export type EscalationService = ReturnType<typeof createEscalationService>;
