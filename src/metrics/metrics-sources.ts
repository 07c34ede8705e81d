import type { CredentialRepository } from '../credentials/credential-repository';
import type { RotationJobRepository } from '../credentials/rotation-job-repository';
import type { DeviceRepository } from '../devices/device-repository';
import type { Db } from '../store/database';
import type { Clock } from '../time/clock';
import type { MetricsSources } from './metrics';

/** The store-backed gauges: each a count over an index, never a scan of the fleet. */
export function storeMetricsSources(deps: {
  db: Db;
  clock: Clock;
  devices: Pick<DeviceRepository, 'countFailing' | 'countOverdue'>;
  jobs: Pick<RotationJobRepository, 'depth'>;
  versions: Pick<CredentialRepository, 'countAckOverdue'>;
  settings: { flagAfter: number; maxAgeSeconds: number; ackTimeoutSeconds: number };
}): MetricsSources {
  const { db, clock, settings } = deps;
  const before = (seconds: number) => new Date(clock.now().getTime() - seconds * 1000).toISOString();
  return {
    rotationQueue: () => deps.jobs.depth(db, clock.now().toISOString()),
    failingDevices: () => deps.devices.countFailing(db, settings.flagAfter),
    overdueDevices: () => deps.devices.countOverdue(db, before(settings.maxAgeSeconds)),
    ackOverdueDevices: () => deps.versions.countAckOverdue(db, before(settings.ackTimeoutSeconds)),
  };
}
