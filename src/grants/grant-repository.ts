import { Kysely } from 'kysely';
import { Database, GrantTable } from '../store/schema';
import { Grant, GrantState, grantFromRow } from './grant';

type Q = Kysely<Database>;

export const grantRepository = {
  async findById(q: Q, id: string): Promise<Grant | undefined> {
    const r = await q.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? grantFromRow(r) : undefined;
  },
  async insert(q: Q, row: GrantTable): Promise<void> {
    await q.insertInto('grants').values(row).execute();
  },
  /** Changes a grant only from the state it was read in; false when another request moved it first. */
  async updateIfState(q: Q, id: string, expected: GrantState, set: Partial<GrantTable>): Promise<boolean> {
    const r = await q.updateTable('grants').set(set).where('id', '=', id).where('state', '=', expected).executeTakeFirst();
    return r.numUpdatedRows > 0n;
  },
  async openFor(q: Q, requester: string, deviceId: string): Promise<Grant[]> {
    const rows = await q.selectFrom('grants').selectAll().where('requester', '=', requester).where('device_id', '=', deviceId).where('state', 'in', ['pending', 'active']).execute();
    return rows.map(grantFromRow);
  },
  async list(q: Q, f: { state?: string; deviceId?: string; requester?: string; after?: readonly [string, string]; limit: number }): Promise<Grant[]> {
    let sel = q.selectFrom('grants').selectAll();
    if (f.state) sel = sel.where('state', '=', f.state as GrantState);
    if (f.deviceId) sel = sel.where('device_id', '=', f.deviceId);
    if (f.requester) sel = sel.where('requester', '=', f.requester);
    if (f.after) {
      const [at, id] = f.after;
      sel = sel.where((eb) => eb.or([eb('created_at', '>', at), eb.and([eb('created_at', '=', at), eb('id', '>', id)])]));
    }
    return (await sel.orderBy('created_at').orderBy('id').limit(f.limit).execute()).map(grantFromRow);
  },
  async dueForExpiry(q: Q, now: string, limit: number): Promise<Grant[]> {
    const rows = await q.selectFrom('grants').selectAll().where('state', '=', 'active').where('expires_at', '<=', now).limit(limit).execute();
    return rows.map(grantFromRow);
  },
};
