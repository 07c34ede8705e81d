import fs from 'node:fs';
import { Command } from 'commander';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exportVerifyNotes, verifyExport } from '../audit/audit-export';
import { checkpointKeyFromJwk } from '../audit/checkpoint-signer';
import { CliError } from './cli-error';
import { call, callStream } from './client';
import { print } from './output';
import { client, connection, Flags, pageOptions, query, show } from './client-command';

/** The columns of `audit query`'s table. */
export const auditColumns = ['seq', 'at', 'actor', 'action', 'outcome', 'deviceId', 'target', 'reason'] as const;

/** Audit events as `audit query` tabulates them: the actor by its subject alone. */
export function auditRows(items: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  return items.map((e) => ({ ...e, actor: (e.actor as { subject?: string } | undefined)?.subject }));
}

function parseAnchor(v: string): { seq: number; hash: string } {
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(v);
  if (!m) throw new CliError('--anchor takes seq:hash, e.g. 42:9f86d081…', 2);
  return { seq: Number(m[1]), hash: m[2] as string };
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
        print({ ...page, items: auditRows(page.items) }, false, auditColumns);
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
