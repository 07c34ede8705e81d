import { Command } from 'commander';
import { call } from './client';
import { client, connection, enc, Flags, pageOptions, query, show } from './client-command';

/** The columns of `grant list` and the other grant commands' tables. */
export const grantColumns = ['id', 'state', 'deviceId', 'requester', 'duration', 'expiresAt', 'ticket', 'reason'] as const;

export function grantCommand(): Command {
  const cmd = new Command('grant').description('request, decide and end elevations; read the password while a grant lasts');
  const columns = grantColumns;
  cmd.addCommand(
    client('request', 'ask for temporary local admin access to a device (requester)')
      .requiredOption('--device <id>')
      .requiredOption('--reason <text>')
      .requiredOption('--duration <iso>', 'e.g. PT1H')
      .option('--ticket <ticket>')
      .action(async (o: Flags & { device: string; reason: string; duration: string; ticket?: string }) => {
        const body = { deviceId: o.device, reason: o.reason, duration: o.duration, ...(o.ticket ? { ticket: o.ticket } : {}) };
        show(await call(connection(o), 'POST', '/v1/grants', body), o, columns, (g) => g.id);
      }),
  );
  cmd.addCommand(
    pageOptions(
      client('list', 'list grants (your own, or all for approvers, admins and auditors)').option('--state <state>').option('--device <id>').option('--requester <subject>'),
    ).action(async (o: Flags & { state?: string; device?: string; requester?: string; limit?: string; cursor?: string }) =>
      show(await call(connection(o), 'GET', `/v1/grants${query({ state: o.state, deviceId: o.device, requester: o.requester, limit: o.limit, cursor: o.cursor })}`), o, columns),
    ),
  );
  cmd.addCommand(
    client('show', 'one grant (never a password)')
      .argument('<id>')
      .action(async (id: string, o: Flags) => show(await call(connection(o), 'GET', `/v1/grants/${enc(id)}`), o, columns, (g) => g.state)),
  );
  cmd.addCommand(
    client('approve', 'approve a pending grant (approver, not its requester)')
      .argument('<id>')
      .option('--comment <text>')
      .action(async (id: string, o: Flags & { comment?: string }) =>
        show(await call(connection(o), 'POST', `/v1/grants/${enc(id)}/approve`, o.comment ? { comment: o.comment } : {}), o, columns, (g) => g.state),
      ),
  );
  cmd.addCommand(
    client('deny', 'deny a pending grant (approver)')
      .argument('<id>')
      .requiredOption('--reason <text>')
      .action(async (id: string, o: Flags & { reason: string }) =>
        show(await call(connection(o), 'POST', `/v1/grants/${enc(id)}/deny`, { reason: o.reason }), o, columns, (g) => g.state),
      ),
  );
  cmd.addCommand(
    client('revoke', 'end a grant early (its requester or an admin); the password is rotated after use')
      .argument('<id>')
      .option('--reason <text>')
      .action(async (id: string, o: Flags & { reason?: string }) =>
        show(await call(connection(o), 'POST', `/v1/grants/${enc(id)}/revoke`, o.reason ? { reason: o.reason } : {}), o, columns, (g) => g.state),
      ),
  );
  cmd.addCommand(
    client('password', "read the device's local admin password while your grant is active (audited)")
      .argument('<id>')
      .action(async (id: string, o: Flags) => show(await call(connection(o), 'GET', `/v1/grants/${enc(id)}/password`), o, [], (r) => r.password)),
  );
  return cmd;
}
