import { Kysely, sql } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { Database, DeviceTable } from '../store/schema';
import { JWK } from 'jose';
import { Device } from './device';

type Q = Kysely<Database>;

function deviceFromRow(r: DeviceTable): Device {
  return {
    id: r.id,
    displayName: r.display_name,
    groups: JSON.parse(r.groups) as string[],
    account: r.account,
    agentKey: JSON.parse(r.agent_key) as JWK,
    status: r.status,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  };
}

/** The devices table; `q` is `db` or a transaction of it. */
export function createDeviceRepository(db: Q) {
  // Every agent request looks its device up: prepared once.
  const byId = prepareQuery(db, (d, p: { id: string }) => d.selectFrom('devices').selectAll().where('id', '=', p.id));
  const noNextDue = prepareQuery(db, (d, p: { id: string }) => d.updateTable('devices').set({ next_due: null }).where('id', '=', p.id));
  return {
    async findById(q: Q, id: string): Promise<Device | undefined> {
      const [r] = await byId(q, { id });
      return r ? deviceFromRow(r) : undefined;
    },
    /** The device, retired or not, enrolled with the agent key of this RFC 7638 thumbprint. */
    async findIdByKeyThumbprint(q: Q, thumbprint: string): Promise<string | undefined> {
      return (await q.selectFrom('devices').select('id').where('agent_key_thumbprint', '=', thumbprint).executeTakeFirst())?.id;
    },
    /** A newly enrolled device: never rotated yet (its initial password is pending), not due. */
    async insert(q: Q, d: Device, agentKeyThumbprint: string): Promise<void> {
      await q
        .insertInto('devices')
        .values({
          id: d.id,
          display_name: d.displayName,
          groups: JSON.stringify(d.groups),
          account: d.account,
          agent_key: JSON.stringify(d.agentKey),
          agent_key_thumbprint: agentKeyThumbprint,
          status: d.status,
          created_at: d.createdAt,
          retired_at: d.retiredAt,
          last_rotated_at: null,
          next_due: null,
          rotation_failures: 0,
          rotation_error: null,
        })
        .execute();
    },
    async list(q: Q, f: { status?: string; group?: string; afterId?: string; limit: number }): Promise<Device[]> {
      let sel = q.selectFrom('devices').selectAll();
      // Group names are [A-Za-z0-9._-] (validated), so the quoted JSON string matches exactly once
      // LIKE's own wildcard '_' is escaped; this reads the same on SQLite and PostgreSQL.
      if (f.group) sel = sel.where(sql<boolean>`${sql.ref('groups')} LIKE ${'%' + JSON.stringify(f.group).replace(/_/g, '\\_') + '%'} ESCAPE '\\'`);
      if (f.status) sel = sel.where('status', '=', f.status as Device['status']);
      if (f.afterId !== undefined) sel = sel.where('id', '>', f.afterId);
      return (await sel.orderBy('id').limit(f.limit).execute()).map(deviceFromRow);
    },
    /**
     * Active devices whose id starts with `text` or whose display name contains it, ignoring case (ASCII
     * case on SQLite), by display name; only among `ids` when given. LIKE's wildcards in the text are
     * escaped: `_` and `%` mean themselves, so a search cannot widen itself into "every device".
     */
    async search(q: Q, f: { text?: string; ids?: readonly string[]; limit: number }): Promise<Device[]> {
      if (f.ids && f.ids.length === 0) return [];
      let sel = q.selectFrom('devices').selectAll().where('status', '=', 'active');
      if (f.ids) sel = sel.where('id', 'in', [...f.ids]);
      if (f.text !== undefined) {
        const t = f.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
        sel = sel.where((eb) =>
          eb.or([sql<boolean>`lower(${sql.ref('id')}) LIKE ${`${t}%`} ESCAPE '\\'`, sql<boolean>`lower(${sql.ref('display_name')}) LIKE ${`%${t}%`} ESCAPE '\\'`]),
        );
      }
      return (await sel.orderBy('display_name').orderBy('id').limit(f.limit).execute()).map(deviceFromRow);
    },
    async retire(q: Q, id: string, at: string): Promise<boolean> {
      // A retired device is never due again: next_due leaves the index the scheduler reads.
      const r = await q.updateTable('devices').set({ status: 'retired', retired_at: at, next_due: null }).where('id', '=', id).where('status', '=', 'active').executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    /** A password was acknowledged: the device is healthy again and next due at `nextDue`. */
    async markRotated(q: Q, id: string, at: string, nextDue: string): Promise<void> {
      await q.updateTable('devices').set({ last_rotated_at: at, next_due: nextDue, rotation_failures: 0, rotation_error: null }).where('id', '=', id).execute();
    },
    /** A rotation is under way: not due again until its password is acknowledged. */
    async clearNextDue(q: Q, id: string): Promise<void> {
      await noNextDue(q, { id });
    },
    /** Counts one more failed rotation; returns how many in a row. */
    async recordFailure(q: Q, id: string, error: string): Promise<number> {
      await q
        .updateTable('devices')
        .set((eb) => ({ rotation_failures: eb('rotation_failures', '+', 1), rotation_error: error }))
        .where('id', '=', id)
        .execute();
      const r = await q.selectFrom('devices').select('rotation_failures').where('id', '=', id).executeTakeFirst();
      return r?.rotation_failures ?? 0;
    },
    /** Active devices whose password is due, oldest first: a range read of the next_due index, O(due) not O(fleet). */
    async dueForRotation(q: Q, now: string, limit: number): Promise<Array<{ id: string }>> {
      return q.selectFrom('devices').select('id').where('next_due', '<=', now).where('status', '=', 'active').orderBy('next_due').limit(limit).execute();
    },
    async countFailing(q: Q, flagAfter: number): Promise<number> {
      const r = await q
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('rotation_failures', '>=', flagAfter)
        .where('status', '=', 'active')
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    /** Active devices whose password is older than the cutoff (or that never got one since before it). */
    async countOverdue(q: Q, cutoff: string): Promise<number> {
      const r = await q
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'active')
        .where((eb) => eb.or([eb('last_rotated_at', '<', cutoff), eb.and([eb('last_rotated_at', 'is', null), eb('created_at', '<', cutoff)])]))
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    /** The rotation state kept on the device's row: last rotated, next due, failures in a row and the last error. */
    async rotationState(q: Q, id: string): Promise<{ lastRotatedAt: string | null; nextDue: string | null; rotationFailures: number; rotationError: string | null } | undefined> {
      const r = await q.selectFrom('devices').select(['last_rotated_at', 'next_due', 'rotation_failures', 'rotation_error']).where('id', '=', id).executeTakeFirst();
      return r && { lastRotatedAt: r.last_rotated_at, nextDue: r.next_due, rotationFailures: r.rotation_failures, rotationError: r.rotation_error };
    },
  };
}

export type DeviceRepository = ReturnType<typeof createDeviceRepository>;
