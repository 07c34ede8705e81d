import { DeviceRepository } from '../devices/device-repository';
import { Grant, GrantState, isLive } from '../grants/grant';
import { GrantRepository } from '../grants/grant-repository';
import { UserPrincipal, requireRole } from '../identity/principal';
import { Eligibility, eligibility } from '../policies/policy';
import { PolicyRepository } from '../policies/policy-repository';
import { Db } from '../store/database';
import { Clock } from '../time/clock';

/** A device as a requester finds it: whether they may elevate there, and on what terms, before they ask. */
export interface ElevationDevice {
  id: string;
  displayName: string;
  /** Only where the caller may elevate (or asked before): a requester learns no more of the fleet than they can use. */
  groups?: string[];
  account?: string;
  /** The caller asked for elevation on it before (among their latest devices). */
  recent: boolean;
  lastRequestedAt: string | null;
  eligibility: Eligibility & {
    /** The caller's pending or live grant there: a second request would be refused (409) while it lasts. */
    openGrant?: { id: string; state: GrantState };
  };
}

/** How many of a requester's latest devices count as recent. */
const recentWindow = 200;

/** The requester's device finder: devices matching what they type, their recent ones first, each with its eligibility. */
export function createElevationService(deps: {
  db: Db;
  devices: Pick<DeviceRepository, 'search'>;
  policies: Pick<PolicyRepository, 'enabled'>;
  grants: Pick<GrantRepository, 'requestedDevices' | 'openOfRequesterOn'>;
  clock: Clock;
}) {
  const { db, devices, policies, grants, clock } = deps;

  /**
   * Active devices whose id starts with `q` or whose name contains it (no `q`: only the caller's recent
   * ones), the caller's recent ones first (newest request first), then by name. Eligibility is
   * `eligibility` over the enabled policies, for the caller as they are signed in now: what `decide`
   * will do when they ask. Never a password, never another requester's grant.
   */
  async function findDevices(p: UserPrincipal, f: { q?: string; limit: number }): Promise<{ items: ElevationDevice[] }> {
    requireRole(p, 'requester');
    const recent = await grants.requestedDevices(db, p.subject, { limit: recentWindow });
    const recentIds = recent.map((r) => r.deviceId);
    const recentMatches = await devices.search(db, { text: f.q, ids: recentIds, limit: recentWindow });
    recentMatches.sort((a, b) => recentIds.indexOf(a.id) - recentIds.indexOf(b.id));
    let found = recentMatches.slice(0, f.limit);
    if (f.q !== undefined && found.length < f.limit) {
      const taken = new Set(found.map((d) => d.id));
      const others = await devices.search(db, { text: f.q, limit: f.limit + taken.size });
      found = [...found, ...others.filter((d) => !taken.has(d.id))].slice(0, f.limit);
    }
    const ids = found.map((d) => d.id);
    const inWindow = new Set(recentIds);
    // Devices asked for before the recent window still show when they were last asked for.
    const lastRequested = new Map(
      [...recent, ...(await grants.requestedDevices(db, p.subject, { deviceIds: ids.filter((id) => !inWindow.has(id)), limit: f.limit }))].map((r) => [
        r.deviceId,
        r.lastRequestedAt,
      ]),
    );
    const enabled = await policies.enabled(db);
    const now = clock.now();
    // An active grant past its expiry is no longer open: a new request expires it and goes ahead.
    const open = new Map<string, Grant>();
    for (const g of await grants.openOfRequesterOn(db, p.subject, ids)) if (g.state === 'pending' || isLive(g, now)) open.set(g.deviceId, g);
    return {
      items: found.map((d) => {
        const g = open.get(d.id);
        const allowed = eligibility(enabled, p, d.groups);
        const recent = inWindow.has(d.id);
        // A device they may not use shows its name and why not; its groups and account stay with those who may.
        const known = allowed.allowed || recent || lastRequested.has(d.id) || g !== undefined;
        return {
          id: d.id,
          displayName: d.displayName,
          ...(known ? { groups: d.groups, account: d.account } : {}),
          recent,
          lastRequestedAt: lastRequested.get(d.id) ?? null,
          eligibility: { ...allowed, ...(g ? { openGrant: { id: g.id, state: g.state } } : {}) },
        };
      }),
    };
  }

  return { findDevices };
}

export type ElevationService = ReturnType<typeof createElevationService>;
