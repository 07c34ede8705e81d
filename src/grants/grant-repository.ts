import { Kysely, sql } from 'kysely';
import { isPostgres } from '../store/dialect';
import { prepareQuery } from '../store/prepared-query';
import { CredentialVersion } from '../credentials/credential-version';
import { credentialVersionFromRow } from '../credentials/credential-repository';
import { Database, GrantTable } from '../store/schema';
import { Role } from '../identity/principal';
import { Grant, GrantRequester, GrantState } from './grant';

type Q = Kysely<Database>;

const jsonList = (v: string | null): string[] => (v === null ? [] : (JSON.parse(v) as string[]));

function requesterFromRow(r: GrantTable): GrantRequester {
  return {
    subject: r.requester,
    groups: jsonList(r.requester_groups),
    roles: jsonList(r.requester_roles) as Role[],
    logins: jsonList(r.requester_logins),
    known: r.requester_groups !== null,
  };
}

function grantFromRow(r: GrantTable): Grant {
  return {
    id: r.id,
    requester: r.requester,
    requesterName: r.requester_name,
    deviceId: r.device_id,
    reason: r.reason,
    ticket: r.ticket,
    duration: r.duration,
    state: r.state,
    policyId: r.policy_id,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    expiresAt: r.expires_at,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    decisionComment: r.decision_comment,
    endedBy: r.ended_by,
    endedAt: r.ended_at,
    endReason: r.end_reason,
    revealedVersion: r.revealed_version,
  };
}

/** What a decision or an ending changes on a grant; the reveal's mark has its own method. */
export type GrantChange = Partial<
  Pick<Grant, 'state' | 'policyId' | 'activatedAt' | 'expiresAt' | 'decidedBy' | 'decidedAt' | 'decisionComment' | 'endedBy' | 'endedAt' | 'endReason'>
>;
const changeColumns = {
  state: 'state',
  policyId: 'policy_id',
  activatedAt: 'activated_at',
  expiresAt: 'expires_at',
  decidedBy: 'decided_by',
  decidedAt: 'decided_at',
  decisionComment: 'decision_comment',
  endedBy: 'ended_by',
  endedAt: 'ended_at',
  endReason: 'end_reason',
} as const satisfies Record<keyof GrantChange, keyof GrantTable>;

function changeToRow(change: GrantChange): Partial<GrantTable> {
  const row: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(change)) if (value !== undefined) row[changeColumns[key as keyof GrantChange]] = value;
  return row as Partial<GrantTable>;
}

interface GrantListFilter {
  state?: string;
  deviceId?: string;
  requester?: string;
  /** Leaves out this requester's grants. */
  exceptRequester?: string;
  after?: readonly [string, string];
  /** Newest request first (a person's own list); else oldest first (a queue, an export). */
  newestFirst?: boolean;
  limit: number;
}

function listRows(q: Q, f: GrantListFilter): Promise<GrantTable[]> {
  let sel = q.selectFrom('grants').selectAll();
  if (f.state) sel = sel.where('state', '=', f.state as GrantState);
  if (f.deviceId) sel = sel.where('device_id', '=', f.deviceId);
  if (f.requester) sel = sel.where('requester', '=', f.requester);
  if (f.exceptRequester) sel = sel.where('requester', '!=', f.exceptRequester);
  const [beyond, direction] = f.newestFirst ? (['<', 'desc'] as const) : (['>', 'asc'] as const);
  if (f.after) {
    const [at, id] = f.after;
    sel = sel.where((eb) => eb.or([eb('created_at', beyond, at), eb.and([eb('created_at', '=', at), eb('id', beyond, id)])]));
  }
  return sel.orderBy('created_at', direction).orderBy('id', direction).limit(f.limit).execute();
}

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
    /** A new grant, with its requester as the request was decided. */
    async insert(q: Q, g: Grant, requester: Omit<GrantRequester, 'subject' | 'known'>): Promise<void> {
      await q
        .insertInto('grants')
        .values({
          id: g.id,
          requester: g.requester,
          requester_name: g.requesterName,
          device_id: g.deviceId,
          reason: g.reason,
          ticket: g.ticket,
          duration: g.duration,
          state: g.state,
          policy_id: g.policyId,
          created_at: g.createdAt,
          activated_at: g.activatedAt,
          expires_at: g.expiresAt,
          decided_by: g.decidedBy,
          decided_at: g.decidedAt,
          decision_comment: g.decisionComment,
          ended_by: g.endedBy,
          ended_at: g.endedAt,
          end_reason: g.endReason,
          requester_groups: JSON.stringify(requester.groups),
          requester_roles: JSON.stringify(requester.roles),
          requester_logins: JSON.stringify(requester.logins),
          revealed_version: g.revealedVersion,
        })
        .execute();
    },
    /**
     * The grant with what a reveal needs in the same read: the device's account and its current
     * and pending credential versions (never a secret; those are in the vault).
     */
    async findForReveal(q: Q, id: string): Promise<{ grant: Grant; account: string | null; deviceGroups: string[]; versions: CredentialVersion[] } | undefined> {
      const rows = await forReveal(q, { id });
      const first = rows[0];
      if (!first) return undefined;
      const versions = rows.flatMap((r): CredentialVersion[] =>
        r.cv_version === null || r.cv_state === null || r.cv_reason === null || r.cv_vault_ref === null || r.cv_created_at === null
          ? []
          : [
              // The row's version columns under their table names: one mapping, credentials'.
              credentialVersionFromRow({
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
              }),
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
    async updateIfState(q: Q, id: string, expected: GrantState, change: GrantChange): Promise<boolean> {
      const r = await q.updateTable('grants').set(changeToRow(change)).where('id', '=', id).where('state', '=', expected).executeTakeFirst();
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
    /** The devices a requester asked for elevation on, each with their latest request, newest first (only among `deviceIds` when given). */
    async requestedDevices(q: Q, requester: string, f: { deviceIds?: readonly string[]; limit: number }): Promise<Array<{ deviceId: string; lastRequestedAt: string }>> {
      if (f.deviceIds && f.deviceIds.length === 0) return [];
      let sel = q
        .selectFrom('grants')
        .select((eb) => ['device_id as deviceId', eb.fn.max('created_at').as('lastRequestedAt')])
        .where('requester', '=', requester);
      if (f.deviceIds) sel = sel.where('device_id', 'in', [...f.deviceIds]);
      const rows = await sel.groupBy('device_id').orderBy('lastRequestedAt', 'desc').orderBy('device_id').limit(f.limit).execute();
      return rows.map((r) => ({ deviceId: r.deviceId, lastRequestedAt: String(r.lastRequestedAt) }));
    },
    /** A requester's open (pending or active) grants on any of these devices. */
    async openOfRequesterOn(q: Q, requester: string, deviceIds: readonly string[]): Promise<Grant[]> {
      if (deviceIds.length === 0) return [];
      const rows = await q
        .selectFrom('grants')
        .selectAll()
        .where('requester', '=', requester)
        .where('device_id', 'in', [...deviceIds])
        .where('state', 'in', ['pending', 'active'])
        .execute();
      return rows.map(grantFromRow);
    },
    async list(q: Q, f: GrantListFilter): Promise<Grant[]> {
      return (await listRows(q, f)).map(grantFromRow);
    },
    /** The same page as `list`, each grant with its requester as the request was decided (whom a decision must not be left to). */
    async listWithRequesters(q: Q, f: GrantListFilter): Promise<Array<{ grant: Grant; requester: GrantRequester }>> {
      return (await listRows(q, f)).map((r) => ({ grant: grantFromRow(r), requester: requesterFromRow(r) }));
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
