import { Kysely } from 'kysely';
import { Database, EscalationTable } from '../store/schema';
import { EscalationRecord, EscalationStatus } from './escalation';

type Q = Kysely<Database>;

function escalationFromRow(r: EscalationTable): EscalationRecord {
  return {
    id: r.id,
    submitter: r.submitter,
    submitterName: r.submitter_name,
    severity: r.severity,
    category: r.category,
    summary: r.summary,
    details: r.details,
    deviceId: r.device_id,
    ticket: r.ticket,
    status: r.status,
    routedTo: r.routed_to,
    statusNote: r.status_note,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The escalations table. `q` is the store or a transaction of it. */
export function createEscalationRepository() {
  return {
    async insert(q: Q, e: EscalationRecord): Promise<void> {
      await q
        .insertInto('escalations')
        .values({
          id: e.id,
          submitter: e.submitter,
          submitter_name: e.submitterName,
          severity: e.severity,
          category: e.category,
          summary: e.summary,
          details: e.details,
          device_id: e.deviceId,
          ticket: e.ticket,
          status: e.status,
          routed_to: e.routedTo,
          status_note: e.statusNote,
          created_at: e.createdAt,
          updated_at: e.updatedAt,
        })
        .execute();
    },
    async findById(q: Q, id: string): Promise<EscalationRecord | undefined> {
      const r = await q.selectFrom('escalations').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? escalationFromRow(r) : undefined;
    },
    /** Newest first, after the (createdAt, id) key of the previous page. */
    async list(q: Q, f: { submitter?: string; status?: EscalationStatus; before?: readonly [string, string]; limit: number }): Promise<EscalationRecord[]> {
      let sel = q.selectFrom('escalations').selectAll();
      if (f.submitter !== undefined) sel = sel.where('submitter', '=', f.submitter);
      if (f.status) sel = sel.where('status', '=', f.status);
      const before = f.before;
      if (before) sel = sel.where((eb) => eb.or([eb('created_at', '<', before[0]), eb.and([eb('created_at', '=', before[0]), eb('id', '<', before[1])])]));
      const rows = await sel.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
      return rows.map(escalationFromRow);
    },
    /** Changes the status only from the one it was read in; false when another admin moved it first. */
    async moveIfStatus(q: Q, id: string, expected: EscalationStatus, set: { status: EscalationStatus; statusNote: string | null; updatedAt: string }): Promise<boolean> {
      const r = await q
        .updateTable('escalations')
        .set({ status: set.status, status_note: set.statusNote, updated_at: set.updatedAt })
        .where('id', '=', id)
        .where('status', '=', expected)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
  };
}

export type EscalationRepository = ReturnType<typeof createEscalationRepository>;
