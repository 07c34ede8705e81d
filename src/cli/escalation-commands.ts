import { Command } from 'commander';
import { call } from './client';
import { client, connection, enc, Flags, pageOptions, query, show } from './client-command';

export function escalationCommand(): Command {
  const cmd = new Command('escalation').description('file and follow Sev C escalations (designated staff); admins move them along');
  const columns = ['id', 'status', 'severity', 'category', 'routedTo', 'submitter', 'deviceId', 'summary', 'createdAt'];
  cmd.addCommand(
    client('file', 'file a severity C escalation; it is routed by category')
      .requiredOption('--category <category>', 'e.g. service-policy, service-setting, hardware, software, network, account, other')
      .requiredOption('--summary <text>')
      .option('--severity <severity>', 'only C is accepted here; A and B go through your IT admin', 'C')
      .option('--details <text>')
      .option('--device <id>')
      .option('--ticket <ticket>')
      .action(async (o: Flags & { category: string; summary: string; severity: string; details?: string; device?: string; ticket?: string }) => {
        const body = {
          severity: o.severity,
          category: o.category,
          summary: o.summary,
          ...(o.details ? { details: o.details } : {}),
          ...(o.device ? { deviceId: o.device } : {}),
          ...(o.ticket ? { ticket: o.ticket } : {}),
        };
        show(await call(connection(o), 'POST', '/v1/escalations', body), o, columns, (e) => e.id);
      }),
  );
  cmd.addCommand(
    pageOptions(client('list', 'your escalations (all, for an admin), newest first').option('--status <status>')).action(
      async (o: Flags & { status?: string; limit?: string; cursor?: string }) =>
        show(await call(connection(o), 'GET', `/v1/escalations${query({ status: o.status, limit: o.limit, cursor: o.cursor })}`), o, columns),
    ),
  );
  cmd.addCommand(
    client('show', 'one escalation')
      .argument('<id>')
      .action(async (id: string, o: Flags) => show(await call(connection(o), 'GET', `/v1/escalations/${enc(id)}`), o, columns, (e) => e.status)),
  );
  cmd.addCommand(
    client('status', 'move an escalation along (admin): acknowledged, resolved or rejected')
      .argument('<id>')
      .requiredOption('--status <status>')
      .option('--note <text>')
      .action(async (id: string, o: Flags & { status: string; note?: string }) =>
        show(await call(connection(o), 'PATCH', `/v1/escalations/${enc(id)}`, { status: o.status, ...(o.note ? { note: o.note } : {}) }), o, columns, (e) => e.status),
      ),
  );
  return cmd;
}
