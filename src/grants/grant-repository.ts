import { Kysely, sql } from 'kysely';
import { isPostgres } from '../store/dialect';
import { prepareQuery } from '../store/prepared-query';
import { CredentialVersionTable, Database, GrantTable } from '../store/schema';
import { Grant, GrantRequester, GrantState, grantFromRow, requesterFromRow } from './grant';

type Q = Kysely<Database>;

/** The grants table. Queries on every reveal are prepared once against `db`; `q` is `db` or a transaction of it. */
export function createGrantRepository(db: Q) {
  const byId = prepareQuery(db, (d, p: { id: string }) => d.selectFrom('grants').selectAll().where('id', '=', p.id));
  const forReveal = prepareQuery(db, (d, p: { id: string }) =>
    d
      .selectFrom('grants')
      .leftJoin('devices', 'devices.id', 'grants.device_id')
      // Two literal states joined by OR, not `state IN (?, ?)`: each branch then reads its own partial
      // unique index (one current, one pending per device) instead of every version the device
      // ever had, so a reveal costs the same on a device rotated for years as on a new one.
      .leftJoin('credential_versions as cv', (j) =>
        j.onRef('cv.device_id', '=', 'grants.device_id').on((eb) => eb.or([eb('cv.state', '=', sql.lit('current')), eb('cv.state', '=', sql.lit('pending'))])),
      )
      .selectAll('grants')
      .select([
        'devices.account',
        'devices.groups as device_groups',
        'cv.version as cv_version',
        'cv.state as cv_state',
        'cv.reason as cv_reason',
        'cv.vault_ref as cv_vault_ref',
        'cv.created_at as cv_created_at',
        'cv.fetched_at as cv_fetched_at',
        'cv.acknowledged_at as cv_acknowledged_at',
        'cv.superseded_at as cv_superseded_at',
        'cv.error as cv_error',
        'cv.vault_pruned_at as cv_vault_pruned_at',
        'cv.revealed_at as cv_revealed_at',
      ])
      .where('grants.id', '=', p.id),
  );
  const liveness = prepareQuery(db, (d, p: { id: string }) => {
    const q = d.selectFrom('grants').select(['state', 'expires_at as expiresAt']).where('id', '=', p.id);
    // PostgreSQL: a revoke committing meanwhile is waited for and seen, and one arriving after waits for
    // this reveal's commit, so no reveal is audited as a success under a grant that already ended. (SQLite
    // runs one transaction at a time.)
    return isPostgres(db) ? q.forShare() : q;
  });
  const revealedVersion = prepareQuery(db, (d, p: { id: string }) => d.selectFrom('grants').select('revealed_version').where('id', '=', p.id));
  return {
    /** Just what decides whether a grant is live, for the re-check inside a reveal's transaction. */
    async findLiveness(q: Q, id: string): Promise<Pick<Grant, 'state' | 'expiresAt'> | undefined> {
      return (await liveness(q, { id }))[0];
    },
    async findById(q: Q, id: string): Promise<Grant | undefined> {
      const [r] = await byId(q, { id });
      return r ? grantFromRow(r) : undefined;
    },
    async insert(q: Q, row: GrantTable): Promise<void> {
      await q.insertInto('grants').values(row).execute();
    },
    /**
     * The grant with what a reveal needs in the same read: the device's account and its current
     * and pending credential versions (never a secret; those are in the vault).
     */
    async findForReveal(q: Q, id: string): Promise<{ grant: Grant; account: string | null; deviceGroups: string[]; versions: CredentialVersionTable[] } | undefined> {
      const rows = await forReveal(q, { id });
      const first = rows[0];
      if (!first) return undefined;
      const versions = rows.flatMap((r): CredentialVersionTable[] =>
        r.cv_version === null || r.cv_state === null || r.cv_reason === null || r.cv_vault_ref === null || r.cv_created_at === null
          ? []
          : [
              {
                device_id: r.device_id,
                version: r.cv_version,
                state: r.cv_state,
                reason: r.cv_reason,
                vault_ref: r.cv_vault_ref,
                created_at: r.cv_created_at,
                fetched_at: r.cv_fetched_at,
                acknowledged_at: r.cv_acknowledged_at,
                superseded_at: r.cv_superseded_at,
                error: r.cv_error,
                vault_pruned_at: r.cv_vault_pruned_at,
                revealed_at: r.cv_revealed_at,
              },
            ],
      );
      return { grant: grantFromRow(first), account: first.account, deviceGroups: JSON.parse(first.device_groups ?? '[]') as string[], versions };
    },
    /** The grant and its requester as the request was decided. */
    async findWithRequester(q: Q, id: string): Promise<{ grant: Grant; requester: GrantRequester } | undefined> {
      const [r] = await byId(q, { id });
      return r ? { grant: grantFromRow(r), requester: requesterFromRow(r) } : undefined;
    },
    /** The open (pending or active) grants a policy made, with their requesters. */
    async openUnderPolicy(q: Q, policyId: string): Promise<Array<{ grant: Grant; requester: GrantRequester }>> {
      const rows = await q.selectFrom('grants').selectAll().where('policy_id', '=', policyId).where('state', 'in', ['pending', 'active']).execute();
      return rows.map((r) => ({ grant: grantFromRow(r), requester: requesterFromRow(r) }));
    },
    /** The open (pending or active) grants on a device. */
    async openOnDevice(q: Q, deviceId: string): Promise<Grant[]> {
      return (await q.selectFrom('grants').selectAll().where('device_id', '=', deviceId).where('state', 'in', ['pending', 'active']).execute()).map(grantFromRow);
    },
    /** The version last shown under the grant, read again (inside the transaction that ended it, after its row lock). */
    async findRevealedVersion(q: Q, id: string): Promise<number | null> {
      return (await revealedVersion(q, { id }))[0]?.revealed_version ?? null;
    },
    /** Notes the version a reveal showed under the grant. */
    async markRevealed(q: Q, id: string, version: number): Promise<void> {
      await q.updateTable('grants').set({ revealed_version: version }).where('id', '=', id).execute();
    },
    /** Changes a grant only from the state it was read in; false when another request moved it first. */
    async updateIfState(q: Q, id: string, expected: GrantState, set: Partial<GrantTable>): Promise<boolean> {
      const r = await q.updateTable('grants').set(set).where('id', '=', id).where('state', '=', expected).executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async openFor(q: Q, requester: string, deviceId: string): Promise<Grant[]> {
      const rows = await q
        .selectFrom('grants')
        .selectAll()
        .where('requester', '=', requester)
        .where('device_id', '=', deviceId)
        .where('state', 'in', ['pending', 'active'])
        .execute();
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
    /** The other active grants on a device, with what decides whether each is live. */
    async otherActiveOnDevice(q: Q, deviceId: string, exceptId: string): Promise<Array<Pick<Grant, 'id' | 'state' | 'expiresAt'>>> {
      return q
        .selectFrom('grants')
        .select(['id', 'state', 'expires_at as expiresAt'])
        .where('device_id', '=', deviceId)
        .where('state', '=', 'active')
        .where('id', '!=', exceptId)
        .execute();
    },
    /** When the last of the device's grants active at `now` and activated by `activeSince` expires; undefined when none is. */
    async lastLiveExpiry(q: Q, deviceId: string, now: string, activeSince: string): Promise<string | undefined> {
      const r = await q
        .selectFrom('grants')
        .select((eb) => eb.fn.max('expires_at').as('until'))
        .where('device_id', '=', deviceId)
        .where('state', '=', 'active')
        .where('expires_at', '>', now)
        .where('activated_at', '<=', activeSince)
        .executeTakeFirst();
      return (r?.until as string | null | undefined) ?? undefined;
    },
    async dueForExpiry(q: Q, now: string, limit: number): Promise<Grant[]> {
      const rows = await q.selectFrom('grants').selectAll().where('state', '=', 'active').where('expires_at', '<=', now).limit(limit).execute();
      return rows.map(grantFromRow);
    },
  };
}

export type GrantRepository = ReturnType<typeof createGrantRepository>;
