import { JWK, calculateJwkThumbprint } from 'jose';
import { RequestContext } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { CredentialService, PreparedVersion } from '../credentials/credential-service';
import { RotationService } from '../credentials/rotation-service';
import { GrantService } from '../grants/grant-service';
import { UserPrincipal, requireRole } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { Db } from '../store/database';
import { Page, keysetPage } from '../store/paging';
import { Transactor } from '../store/transactor';
import { Clock } from '../time/clock';
import { CredentialSummary, Device } from './device';
import { DeviceRepository } from './device-repository';
import { actorOf } from '../audit/actor';

export interface EnrolDevice {
  id: string;
  displayName?: string;
  groups: string[];
  account?: string;
  agentKey: JWK;
}

export type DeviceView = Omit<Device, 'agentKey'> & { agentKey: JWK; credential: CredentialSummary; rotation: RotationStatus };

type RotationStatus = Omit<Awaited<ReturnType<RotationService['rotationStatus']>>, 'lastRotatedAt' | 'nextRotationDue'>;

/** Enrolment, listing and retirement of managed devices (admin). */
export function createDeviceService(deps: {
  db: Db;
  devices: DeviceRepository;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  credentials: Pick<CredentialService, 'preparePassword' | 'recordPending' | 'writePendingInTransaction' | 'versionSummary' | 'revealedInEffect'>;
  rotations: Pick<RotationService, 'enqueue' | 'rotationStatus'>;
  grants: Pick<GrantService, 'endGrantsOnDevice'>;
  clock: Clock;
}) {
  const { db, devices, transactor, audit, credentials, rotations, grants, clock } = deps;

  async function view(d: Device): Promise<DeviceView> {
    const [versions, { lastRotatedAt, nextRotationDue, ...rotation }] = await Promise.all([credentials.versionSummary(d.id), rotations.rotationStatus(d.id)]);
    return { ...d, credential: { ...versions, lastRotatedAt, nextRotationDue }, rotation };
  }

  /**
   * One agent key, one device: a device token names its device, but a key shared by two would let
   * either agent fetch and acknowledge the other's password. Retired devices keep their key: a
   * retired machine (sold, scrapped, re-imaged) may still hold the private key, so it stays spent.
   */
  async function refuseEnrolledKey(q: Db, thumbprint: string): Promise<void> {
    const holder = await devices.findIdByKeyThumbprint(q, thumbprint);
    if (holder !== undefined)
      throw new DomainError('conflict', `This agent key is already enrolled for device '${holder}'; each device's agent needs a key of its own (jitbroker agent keygen).`);
  }

  /** Enrols a device and records its initial password as pending, audited in the same transaction. */
  async function enrolDevice(p: UserPrincipal, input: EnrolDevice, ctx: RequestContext): Promise<DeviceView> {
    requireRole(p, 'admin');
    if (await devices.findById(db, input.id)) throw new DomainError('conflict', `Device '${input.id}' is already enrolled.`);
    // Keys compare canonically (RFC 7638: the required members only), so kid, alg or member order cannot disguise a reused key.
    const thumbprint = await calculateJwkThumbprint(input.agentKey, 'sha256');
    await refuseEnrolledKey(db, thumbprint);
    // A remote vault is written before the transaction; one in this store, inside it.
    const inStore = credentials.writePendingInTransaction;
    const early = inStore ? undefined : await credentials.preparePassword(input.id, input.groups, 'initial');
    const now = clock.now().toISOString();
    await transactor.run(async (tx) => {
      if (await devices.findById(tx, input.id)) throw new DomainError('conflict', `Device '${input.id}' is already enrolled.`);
      // Checked again in the transaction; the unique index settles a race between daemons (the unit runs again and lands here).
      await refuseEnrolledKey(tx, thumbprint);
      await devices.insert(
        tx,
        {
          id: input.id,
          displayName: input.displayName ?? input.id,
          groups: [...new Set(input.groups)],
          account: input.account ?? 'localadmin',
          agentKey: input.agentKey,
          status: 'active',
          createdAt: now,
          retiredAt: null,
        },
        thumbprint,
      );
      const prepared = inStore ? await inStore(tx, input.id, input.groups, 'initial') : (early as PreparedVersion);
      if (!inStore) await credentials.recordPending(tx, prepared);
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'device.enrolled',
        outcome: 'success',
        deviceId: input.id,
        target: `version:${prepared.version}`,
        details: { groups: input.groups.join(','), account: input.account ?? 'localadmin' },
        context: ctx,
      });
    });
    return getDevice(p, input.id);
  }

  async function getDevice(p: UserPrincipal, id: string): Promise<DeviceView> {
    requireRole(p, 'admin', 'auditor', 'approver');
    const d = await devices.findById(db, id);
    if (!d) throw new DomainError('not-found', `No device '${id}'.`);
    return view(d);
  }

  async function listDevices(p: UserPrincipal, f: { group?: string; status?: string; cursor?: string; limit: number }): Promise<Page<DeviceView>> {
    requireRole(p, 'admin', 'auditor', 'approver');
    const page = await keysetPage(
      f,
      ['string'],
      (after, limit) => devices.list(db, { group: f.group, status: f.status, afterId: after?.[0], limit }),
      (d) => [d.id],
    );
    return { ...page, items: await Promise.all(page.items.map(view)) };
  }

  /** Forces a rotation: queues (or merges into) the device's open job, due now. */
  async function rotateDevice(p: UserPrincipal, id: string, ctx: RequestContext): Promise<{ jobId: string }> {
    requireRole(p, 'admin');
    return transactor.run(async (tx) => {
      const d = await devices.findById(tx, id);
      if (!d) throw new DomainError('not-found', `No device '${id}'.`);
      if (d.status !== 'active') throw new DomainError('conflict', `Device '${id}' is retired.`);
      const jobId = await rotations.enqueue(tx, id, 'manual', clock.now());
      await audit.append(tx, { actor: actorOf(p), action: 'device.rotation-requested', outcome: 'success', deviceId: id, target: `job:${jobId}`, context: ctx });
      return { jobId };
    });
  }

  /**
   * Retires a device: no new grants; open grants end through the grant state machine (each audited);
   * its passwords stay in the vault for recovery. A device whose password in effect was shown to a
   * requester is refused (409) unless `force`: once retired it is never rotated again, so the password
   * someone saw would stay valid on the device for as long as it runs. Rotate first, retire once the
   * agent has acknowledged the new password; or force it, and the audit says a seen password remains.
   */
  async function retireDevice(p: UserPrincipal, id: string, opts: { force: boolean }, ctx: RequestContext): Promise<DeviceView> {
    requireRole(p, 'admin');
    const ended = await transactor.run(async (tx) => {
      const d = await devices.findById(tx, id);
      if (!d) throw new DomainError('not-found', `No device '${id}'.`);
      if (d.status !== 'active') throw new DomainError('conflict', `Device '${id}' is already retired.`);
      const seen = await credentials.revealedInEffect(tx, id);
      if (seen && !opts.force) {
        throw new DomainError(
          'conflict',
          `Device '${id}' still holds password version ${seen.version}, which a requester was shown. Rotate it first (POST /v1/devices/${id}/rotate) ` +
            'and retire the device once its agent has acknowledged the new password, or retire with ?force=true to leave that password on the device.',
        );
      }
      const at = clock.now().toISOString();
      if (!(await devices.retire(tx, id, at))) throw new DomainError('conflict', `Device '${id}' is already retired.`);
      const outcome = await grants.endGrantsOnDevice(tx, id, { actor: actorOf(p), by: p.subject, reason: 'device retired', context: ctx, queueRotation: false });
      await audit.append(tx, {
        actor: actorOf(p),
        action: 'device.retired',
        outcome: 'success',
        deviceId: id,
        ...(seen ? { reason: `retired with force: version ${seen.version}, which a requester was shown, remains on the device` } : {}),
        details: { grantsEnded: outcome.ended, revealedPasswordRemains: seen !== undefined },
        context: ctx,
      });
      return outcome;
    });
    ended.committed();
    return getDevice(p, id);
  }

  return { enrolDevice, getDevice, listDevices, rotateDevice, retireDevice };
}

export type DeviceService = ReturnType<typeof createDeviceService>;
