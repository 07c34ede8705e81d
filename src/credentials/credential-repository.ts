import { Kysely, sql } from 'kysely';
import { prepareQuery } from '../store/prepared-query';
import { CredentialVersionTable, Database } from '../store/schema';
import { CredentialVersion, CredentialVersionState, assertCanMoveVersion } from './credential-version';

type Q = Kysely<Database>;
export type { CredentialVersion } from './credential-version';

/** A credential_versions row as the domain reads it (also for joins that select its columns under other names). */
export function credentialVersionFromRow(r: CredentialVersionTable): CredentialVersion {
  return {
    deviceId: r.device_id,
    version: r.version,
    state: r.state,
    reason: r.reason,
    vaultRef: r.vault_ref,
    createdAt: r.created_at,
    fetchedAt: r.fetched_at,
    acknowledgedAt: r.acknowledged_at,
    supersededAt: r.superseded_at,
    error: r.error,
    vaultPrunedAt: r.vault_pruned_at,
    revealedAt: r.revealed_at,
  };
}
const fromRow = (r: CredentialVersionTable | undefined) => (r ? credentialVersionFromRow(r) : undefined);

/** The credential_versions table: which password versions a device has, never a password. */
export function createCredentialRepository(db: Q) {
  // Each agent poll asks for its pending version: prepared once. The state is a literal, not a
  // parameter: SQLite then plans for the partial index once, where `state = ?` makes it prepare the
  // statement again on every run to see whether the bound value fits that index.
  const pendingOf = prepareQuery(db, (d, p: { deviceId: string }) =>
    d.selectFrom('credential_versions').selectAll().where('device_id', '=', p.deviceId).where('state', '=', sql.lit('pending')),
  );
  return {
    async pending(q: Q, deviceId: string): Promise<CredentialVersion | undefined> {
      return fromRow((await pendingOf(q, { deviceId }))[0]);
    },
    /**
     * Active devices whose agent fetched a pending password at or before `cutoff` and never
     * acknowledged it (or reported it failed). Reads the pending versions only (their partial index),
     * planned once: the state is a literal, as in `pending` above.
     */
    async countAckOverdue(q: Q, cutoff: string): Promise<number> {
      const r = await q
        .selectFrom('credential_versions as cv')
        .innerJoin('devices as d', 'd.id', 'cv.device_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('cv.state', '=', sql.lit('pending'))
        .where('cv.fetched_at', '<=', cutoff)
        .where('d.status', '=', 'active')
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    async inState(q: Q, deviceId: string, state: CredentialVersionState): Promise<CredentialVersion | undefined> {
      return fromRow(
        await q.selectFrom('credential_versions').selectAll().where('device_id', '=', deviceId).where('state', '=', state).orderBy('version', 'desc').limit(1).executeTakeFirst(),
      );
    },
    /** The first version acknowledged at or after `at` (current now, or superseded since). */
    async firstAcknowledgedSince(q: Q, deviceId: string, at: string, afterVersion: number): Promise<CredentialVersion | undefined> {
      return fromRow(
        await q
          .selectFrom('credential_versions')
          .selectAll()
          .where('device_id', '=', deviceId)
          .where('acknowledged_at', '>=', at)
          .where('version', '>', afterVersion)
          .orderBy('acknowledged_at')
          .orderBy('version')
          .limit(1)
          .executeTakeFirst(),
      );
    },
    async find(q: Q, deviceId: string, version: number): Promise<CredentialVersion | undefined> {
      return fromRow(await q.selectFrom('credential_versions').selectAll().where('device_id', '=', deviceId).where('version', '=', version).executeTakeFirst());
    },
    async nextVersion(q: Q, deviceId: string): Promise<number> {
      const r = await q
        .selectFrom('credential_versions')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      return Number(r?.v ?? 0) + 1;
    },
    async insert(q: Q, v: CredentialVersion): Promise<void> {
      await q
        .insertInto('credential_versions')
        .values({
          device_id: v.deviceId,
          version: v.version,
          state: v.state,
          reason: v.reason,
          vault_ref: v.vaultRef,
          created_at: v.createdAt,
          fetched_at: v.fetchedAt,
          acknowledged_at: v.acknowledgedAt,
          superseded_at: v.supersededAt,
          error: v.error,
          vault_pruned_at: v.vaultPrunedAt,
          revealed_at: v.revealedAt,
        })
        .execute();
    },
    /**
     * Moves a version from the state it was read in, along the lifecycle (allowedNextVersionState);
     * false when something else moved it first. `at` is when it became current or superseded.
     */
    async moveIfState(
      q: Q,
      deviceId: string,
      version: number,
      from: CredentialVersionState,
      to: { state: 'current' | 'superseded'; at: string } | { state: 'failed'; error: string },
    ): Promise<boolean> {
      assertCanMoveVersion({ deviceId, version, state: from }, to.state);
      const set =
        to.state === 'failed'
          ? { state: to.state, error: to.error }
          : to.state === 'current'
            ? { state: to.state, acknowledged_at: to.at }
            : { state: to.state, superseded_at: to.at };
      const r = await q.updateTable('credential_versions').set(set).where('device_id', '=', deviceId).where('version', '=', version).where('state', '=', from).executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    /**
     * Versions that still hold a vault entry and are safe to remove from the vault: superseded ones
     * past the newest `keep` superseded, and failed ones past the newest `keep` failed. Counted apart,
     * so failed sets never cost the device a superseded password it may still hold.
     *
     * Reads only the versions still in the vault (their partial index), a handful per device, not
     * the device's whole history. The newest `keep` of a state are counted among those: they are
     * never pruned, so this is the same window; should one have been (history lowered, then raised),
     * the window only reaches further back and prunes less, never more.
     */
    async beyondHistory(q: Q, deviceId: string, keep: number): Promise<CredentialVersion[]> {
      const unpruned = await q
        .selectFrom('credential_versions')
        .selectAll()
        .where('device_id', '=', deviceId)
        .where('vault_pruned_at', 'is', null)
        .where((eb) => eb.or([eb('state', '=', sql.lit('superseded')), eb('state', '=', sql.lit('failed'))]))
        .orderBy('version', 'desc')
        .execute();
      const past = (state: CredentialVersionState) => unpruned.filter((v) => v.state === state).slice(keep);
      return [...past('superseded'), ...past('failed')].map(credentialVersionFromRow);
    },
    /** Notes when a requester was first shown each version (never moved later by another reveal). */
    async markRevealed(q: Q, deviceId: string, versions: readonly number[], at: string): Promise<void> {
      await q
        .updateTable('credential_versions')
        .set({ revealed_at: sql<string>`coalesce(revealed_at, ${at})` })
        .where('device_id', '=', deviceId)
        .where('version', 'in', versions)
        .execute();
    },
    /** The current or pending version a requester was shown, if any: a used password the device still holds. */
    async revealedInEffect(q: Q, deviceId: string): Promise<CredentialVersion | undefined> {
      return fromRow(
        await q
          .selectFrom('credential_versions')
          .selectAll()
          .where('device_id', '=', deviceId)
          .where('state', 'in', ['current', 'pending'])
          .where('revealed_at', 'is not', null)
          .orderBy('version', 'desc')
          .executeTakeFirst(),
      );
    },
    /** The first fetch of a pending version (later ones keep its time); false when it is no longer pending. */
    async markFetched(q: Q, deviceId: string, version: number, at: string): Promise<boolean> {
      const r = await q
        .updateTable('credential_versions')
        .set({ fetched_at: sql<string>`coalesce(fetched_at, ${at})` })
        .where('device_id', '=', deviceId)
        .where('version', '=', version)
        .where('state', '=', 'pending')
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
    async markPruned(q: Q, deviceId: string, version: number, at: string): Promise<void> {
      await q.updateTable('credential_versions').set({ vault_pruned_at: at }).where('device_id', '=', deviceId).where('version', '=', version).execute();
    },
  };
}

export type CredentialRepository = ReturnType<typeof createCredentialRepository>;
