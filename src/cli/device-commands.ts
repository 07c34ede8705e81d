import fs from 'node:fs';
import { Command } from 'commander';
import { call } from './client';
import { client, connection, enc, Flags, list, pageOptions, query, show } from './client-command';

/** A device's credential summary side by side with its other columns, for tables. */
function flattenDevice(d: Record<string, unknown>): Record<string, unknown> {
  const { credential, agentKey: _k, ...rest } = d as { credential?: Record<string, unknown>; agentKey?: unknown };
  return { ...rest, ...(credential ?? {}) };
}

function flattenDevices(v: unknown): unknown {
  const page = v as { items: Record<string, unknown>[]; nextCursor: string | null };
  return { ...page, items: page.items.map(flattenDevice) };
}

function readAgentKey(value: string): unknown {
  const text = value.trim().startsWith('{') ? value : fs.readFileSync(value, 'utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('--agent-key must be a public JWK as JSON or a file holding one (see jitbroker agent keygen)');
  }
}

export function deviceCommand(): Command {
  const cmd = new Command('device').description('enrol, list, rotate and retire managed devices (admin)');
  const columns = ['id', 'status', 'groups', 'account', 'currentVersion', 'pendingVersion', 'lastRotatedAt', 'nextRotationDue'];
  cmd.addCommand(
    client('add', 'enrol a device; its initial password waits for the agent')
      .argument('<id>', 'device id or hostname')
      .requiredOption('--groups <groups>', 'comma-separated device groups')
      .requiredOption('--agent-key <jwk>', 'the public JWK printed by jitbroker agent keygen, or a file holding it')
      .option('--display-name <name>')
      .option('--account <name>', 'the managed local admin account (default localadmin)')
      .action(async (id: string, o: Flags & { groups: string; agentKey: string; displayName?: string; account?: string }) => {
        const body = {
          id,
          groups: list(o.groups),
          agentKey: readAgentKey(o.agentKey),
          ...(o.displayName ? { displayName: o.displayName } : {}),
          ...(o.account ? { account: o.account } : {}),
        };
        show(flattenDevice((await call(connection(o), 'POST', '/v1/devices', body)) as Record<string, unknown>), o, columns, (d) => d.id);
      }),
  );
  cmd.addCommand(
    pageOptions(client('list', 'list devices').option('--group <group>').option('--status <status>', 'active or retired')).action(
      async (o: Flags & { group?: string; status?: string; limit?: string; cursor?: string }) => {
        const page = await call(connection(o), 'GET', `/v1/devices${query({ group: o.group, status: o.status, limit: o.limit, cursor: o.cursor })}`);
        show(o.json ? page : flattenDevices(page), o, columns);
      },
    ),
  );
  cmd.addCommand(
    client('show', 'one device and its credential state (never a password)')
      .argument('<id>')
      .action(async (id: string, o: Flags) => {
        const d = await call(connection(o), 'GET', `/v1/devices/${enc(id)}`);
        show(o.json ? d : flattenDevice(d as Record<string, unknown>), o, columns, (v) => v.id);
      }),
  );
  cmd.addCommand(
    client('rotate', 'force a password rotation')
      .argument('<id>')
      .action(async (id: string, o: Flags) => show(await call(connection(o), 'POST', `/v1/devices/${enc(id)}/rotate`), o, ['jobId'], (v) => v.jobId)),
  );
  cmd.addCommand(
    client('retire', 'retire a device: no new grants, open grants end, passwords kept for recovery')
      .argument('<id>')
      .option('--force', 'retire even though the device still holds a password a requester was shown')
      .action(async (id: string, o: Flags & { force?: boolean }) => {
        const d = await call(connection(o), 'DELETE', `/v1/devices/${enc(id)}${o.force ? '?force=true' : ''}`);
        show(o.json ? d : flattenDevice(d as Record<string, unknown>), o, columns, (v) => v.id);
      }),
  );
  return cmd;
}
