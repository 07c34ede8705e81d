import fs from 'node:fs';
import { Command } from 'commander';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exportVerifyNotes, verifyExport } from '../audit/audit-export';
import { checkpointKeyFromJwk } from '../audit/checkpoint-signer';
import { CliError } from './cli-error';
import { ClientOptions, call, callStream } from './client';
import { print, visible } from './output';

interface Flags {
  url: string;
  token?: string;
  json?: boolean;
  quiet?: boolean;
}

function parseAnchor(v: string): { seq: number; hash: string } {
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(v);
  if (!m) throw new CliError('--anchor takes seq:hash, e.g. 42:9f86d081…', 2);
  return { seq: Number(m[1]), hash: m[2] as string };
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const enc = encodeURIComponent;

/** Adds the options every API client command takes. */
function client(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('--url <url>', 'the daemon (default $JITBROKER_URL or http://127.0.0.1:7800)')
    .option('--token <jwt>', 'bearer token (default $JITBROKER_TOKEN)')
    .option('--json', 'print the JSON answer instead of a table')
    .option('-q, --quiet', 'print only the essential value (an id, a password)');
}

function connection(f: Flags): ClientOptions {
  return { url: f.url ?? process.env.JITBROKER_URL ?? 'http://127.0.0.1:7800', token: f.token ?? process.env.JITBROKER_TOKEN };
}

/** The query string of the options that are set. */
function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function show(value: unknown, f: Flags, columns: readonly string[], essential?: (v: Record<string, unknown>) => unknown): void {
  if (f.quiet && essential && value && typeof value === 'object') console.log(visible(String(essential(value as Record<string, unknown>))));
  else print(value, f.json ?? false, columns);
}

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

const pageOptions = (c: Command) => c.option('--limit <n>', 'page size (1-500)').option('--cursor <cursor>', 'the nextCursor of the previous page');

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

export function grantCommand(): Command {
  const cmd = new Command('grant').description('request, decide and end elevations; read the password while a grant lasts');
  const columns = ['id', 'state', 'deviceId', 'requester', 'duration', 'expiresAt', 'ticket', 'reason'];
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

export function auditCommand(): Command {
  const cmd = new Command('audit').description('query and verify the hash-chained audit log (auditor)');
  cmd.addCommand(
    pageOptions(
      client('query', 'audit events, oldest first')
        .option('--actor <subject>')
        .option('--device <id>')
        .option('--action <action>', 'e.g. grant.password-revealed')
        .option('--outcome <outcome>', 'success, denied or failure')
        .option('--request-id <id>')
        .option('--from <time>', 'RFC 3339, inclusive')
        .option('--to <time>', 'RFC 3339, exclusive'),
    ).action(
      async (
        o: Flags & { actor?: string; device?: string; action?: string; outcome?: string; requestId?: string; from?: string; to?: string; limit?: string; cursor?: string },
      ) => {
        const page = (await call(
          connection(o),
          'GET',
          `/v1/audit/events${query({ actor: o.actor, deviceId: o.device, action: o.action, outcome: o.outcome, requestId: o.requestId, from: o.from, to: o.to, limit: o.limit, cursor: o.cursor })}`,
        )) as { items: Array<Record<string, unknown>>; nextCursor: string | null };
        if (o.json) return print(page, true, []);
        const rows = page.items.map((e) => ({ ...e, actor: (e.actor as { subject?: string } | undefined)?.subject }));
        print({ ...page, items: rows }, false, ['seq', 'at', 'actor', 'action', 'outcome', 'deviceId', 'target', 'reason']);
      },
    ),
  );
  cmd.addCommand(
    client('verify', "walk the hash chain (the daemon's, or an export with --file, offline); exit 3 when it is broken")
      .option('--file <export.jsonl>', 'verify a JSONL export offline: no daemon, no database')
      .option('--key <pub.jwk>', 'the checkpoint public key (jitbroker audit key): checkpoint signatures are checked, and the export must hold one that vouches for its events')
      .option('--anchor <seq:hash>', 'a head you noted earlier: also detects a truncated or rolled-back log')
      .action(async (o: Flags & { file?: string; key?: string; anchor?: string }) => {
        if (!o.file) {
          const r = (await call(connection(o), 'GET', `/v1/audit/verify${query({ anchor: o.anchor })}`)) as { ok: boolean };
          show(r, o, [], (v) => (v.ok ? 'ok' : 'broken'));
          if (!r.ok) process.exitCode = 3;
          return;
        }
        const anchor = o.anchor ? parseAnchor(o.anchor) : undefined;
        const checkpointKey = o.key ? checkpointKeyFromJwk(JSON.parse(fs.readFileSync(o.key, 'utf8')) as crypto.JsonWebKey) : undefined;
        const input = o.file === '-' ? process.stdin : fs.createReadStream(o.file);
        const r = await verifyExport(input, { checkpointKey, anchor });
        show(r, o, [], (v) => (v.ok ? 'ok' : 'broken'));
        // On stderr: what the verdict covers, without spoiling --json on stdout.
        if (!o.quiet) for (const note of exportVerifyNotes(r, checkpointKey !== undefined)) console.error(`note: ${note}`);
        if (!r.ok) process.exitCode = 3;
      }),
  );
  cmd.addCommand(
    client('export', "stream the audit log (with each event's hashes, so the file verifies on its own)")
      .option('--format <format>', 'jsonl or csv', 'jsonl')
      .option('--from <time>', 'RFC 3339, inclusive')
      .option('--to <time>', 'RFC 3339, exclusive')
      .option('--output <file>', 'write here instead of stdout')
      .action(async (o: Flags & { format: string; from?: string; to?: string; output?: string }) => {
        const res = await callStream(connection(o), `/v1/audit/export${query({ format: o.format, from: o.from, to: o.to })}`);
        const out = o.output ? fs.createWriteStream(o.output, { mode: 0o600 }) : process.stdout;
        await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), out);
      }),
  );
  cmd.addCommand(
    client('checkpoint', 'sign a checkpoint of the chain head now (keep it: it is an --anchor, and an export taken after it verifies with --key)').action(async (o: Flags) =>
      show(await call(connection(o), 'POST', '/v1/audit/checkpoints', {}), o, [], (c) => `${String(c.seq)}:${String(c.hash)}`),
    ),
  );
  cmd.addCommand(
    client('key', 'print the public key that signs audit checkpoints (a JWK), for verify --key').action(async (o: Flags) =>
      console.log(JSON.stringify(await call(connection(o), 'GET', '/v1/audit/checkpoint-key'))),
    ),
  );
  return cmd;
}

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
