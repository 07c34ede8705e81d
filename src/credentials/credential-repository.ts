import { Kysely } from 'kysely';
import { CredentialVersionTable, Database } from '../store/schema';

type Q = Kysely<Database>;
export type CredentialVersion = CredentialVersionTable;

export const credentialRepository = {
  async inState(q: Q, deviceId: string, state: CredentialVersion['state']): Promise<CredentialVersion | undefined> {
    return q.selectFrom('credential_versions').selectAll().where('device_id', '=', deviceId).where('state', '=', state).orderBy('version', 'desc').limit(1).executeTakeFirst();
  },
  async find(q: Q, deviceId: string, version: number): Promise<CredentialVersion | undefined> {
    return q.selectFrom('credential_versions').selectAll().where('device_id', '=', deviceId).where('version', '=', version).executeTakeFirst();
  },
  async nextVersion(q: Q, deviceId: string): Promise<number> {
    const r = await q
      .selectFrom('credential_versions')
      .select((eb) => eb.fn.max('version').as('v'))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return Number(r?.v ?? 0) + 1;
  },
  async insert(q: Q, row: CredentialVersion): Promise<void> {
    await q.insertInto('credential_versions').values(row).execute();
  },
  /** Moves a version from the state it was read in; false when something else moved it first. */
  async moveIfState(q: Q, deviceId: string, version: number, from: CredentialVersion['state'], set: Partial<CredentialVersion>): Promise<boolean> {
    const r = await q.updateTable('credential_versions').set(set).where('device_id', '=', deviceId).where('version', '=', version).where('state', '=', from).executeTakeFirst();
    return r.numUpdatedRows > 0n;
  },
};
