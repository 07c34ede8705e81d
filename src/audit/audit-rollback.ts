import { Logger } from 'pino';
import { StartupRefused } from '../startup/startup-refused';
import { Transactor } from '../store/transactor';
import type { AuditCheckpoints } from './audit-checkpoints';
import type { AuditLog } from './audit-log';

/**
 * The database must still hold the last checkpoint signed beside it: otherwise it went back in
 * time (a restored backup, a replaced file), and the daemon refuses to start on it unless
 * audit.acceptRollback is set, in which case it starts, logs it, audits it and signs a new checkpoint.
 */
export async function refuseRolledBack(deps: {
  checkpoints: Pick<AuditCheckpoints, 'checkNotRolledBack' | 'checkpointNow'>;
  audit: Pick<AuditLog, 'append'>;
  transactor: Transactor;
  logger: Logger;
  acceptRollback: boolean;
}): Promise<void> {
  const rolledBack = await deps.checkpoints.checkNotRolledBack();
  if (!rolledBack) return;
  if (!deps.acceptRollback) throw new StartupRefused([`${rolledBack}; restore the newer database, or set audit.acceptRollback to start anyway (audited)`]);
  deps.logger.error({ problem: rolledBack }, 'starting on an audit log that went back in time (audit.acceptRollback)');
  await deps.transactor.run((tx) =>
    deps.audit.append(tx, { actor: { kind: 'system', subject: 'audit' }, action: 'audit.rollback-accepted', outcome: 'failure', reason: rolledBack }),
  );
  await deps.checkpoints.checkpointNow();
}
