import { Command } from 'commander';
import { call } from './client';
import { client, connection, enc, Flags, list, pageOptions, query, show } from './client-command';

export function policyCommand(): Command {
  const cmd = new Command('policy').description('designate who may elevate on which device groups (admin)');
  const columns = ['id', 'name', 'enabled', 'principals', 'deviceGroups', 'maxDuration', 'requireTicket', 'ticketPattern', 'requireApproval'];
  cmd.addCommand(
    client('add', 'create a policy')
      .requiredOption('--name <name>')
      .requiredOption('--device-groups <groups>', 'comma-separated device groups it covers')
      .requiredOption('--max-duration <iso>', 'longest grant, e.g. PT4H')
      .option('--groups <groups>', 'designated principal groups')
      .option('--roles <roles>', 'designated roles')
      .option('--subjects <subjects>', 'designated subjects')
      .option('--require-ticket', 'a ticket is required')
      .option('--ticket-pattern <regex>', 'tickets must match this regular expression')
      .option('--require-approval', 'a second person (approver) must approve')
      .option('--disabled', 'create it disabled')
      .action(
        async (
          o: Flags & {
            name: string;
            deviceGroups: string;
            maxDuration: string;
            groups?: string;
            roles?: string;
            subjects?: string;
            requireTicket?: boolean;
            ticketPattern?: string;
            requireApproval?: boolean;
            disabled?: boolean;
          },
        ) => {
          const principals = {
            ...(o.groups ? { groups: list(o.groups) } : {}),
            ...(o.roles ? { roles: list(o.roles) } : {}),
            ...(o.subjects ? { subjects: list(o.subjects) } : {}),
          };
          const body = {
            name: o.name,
            principals,
            deviceGroups: list(o.deviceGroups),
            maxDuration: o.maxDuration,
            requireTicket: o.requireTicket ?? false,
            ...(o.ticketPattern ? { ticketPattern: o.ticketPattern } : {}),
            requireApproval: o.requireApproval ?? false,
            enabled: !o.disabled,
          };
          show(await call(connection(o), 'POST', '/v1/policies', body), o, columns, (p) => p.id);
        },
      ),
  );
  cmd.addCommand(
    pageOptions(client('list', 'list policies')).action(async (o: Flags & { limit?: string; cursor?: string }) =>
      show(await call(connection(o), 'GET', `/v1/policies${query({ limit: o.limit, cursor: o.cursor })}`), o, columns),
    ),
  );
  cmd.addCommand(
    client('show', 'one policy')
      .argument('<id>')
      .action(async (id: string, o: Flags) => show(await call(connection(o), 'GET', `/v1/policies/${enc(id)}`), o, columns, (p) => p.id)),
  );
  cmd.addCommand(
    client('remove', 'delete a policy')
      .argument('<id>')
      .action(async (id: string, o: Flags) => {
        const { grantsEnded } = (await call(connection(o), 'DELETE', `/v1/policies/${enc(id)}`)) as { grantsEnded: number };
        if (!o.quiet) console.log(o.json ? JSON.stringify({ deleted: id, grantsEnded }) : `policy ${id} removed; ${grantsEnded} open grant(s) it made ended`);
      }),
  );
  return cmd;
}
