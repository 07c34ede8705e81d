import fs from 'node:fs';
import path from 'node:path';
import { DaemonProcess, runCli, startDaemonProcess } from '../support/daemon-process';

/**
 * Every client subcommand the walkthrough does not run, as a child process against one real
 * daemon: its table (the default), its --json (parsed), and a refusal's exit code and detail.
 */
describe('the CLI client commands, against the real daemon', () => {
  // Each step starts a CLI process (about half a second, more on a busy machine).
  jest.setTimeout(120000);
  let d: DaemonProcess;
  let env: Record<string, string>;
  const tokens: Record<'admin' | 'alice' | 'gina' | 'carol' | 'dave', string> = { admin: '', alice: '', gina: '', carol: '', dave: '' };
  let policyId: string;

  /** Runs `jitbroker <args> --token <token>`. */
  const jb = (token: string, ...args: string[]) => runCli([...args, '--token', token], { env, cwd: d.dir });
  /** Runs it and expects success with nothing on stderr; its stdout. */
  const ok = (token: string, ...args: string[]): string => {
    const r = jb(token, ...args);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    return r.stdout;
  };
  /** Runs it with --json; the parsed answer. */
  const json = <T = Record<string, unknown>>(token: string, ...args: string[]): T => JSON.parse(ok(token, ...args, '--json')) as T;
  /** Runs it and expects a refusal: exit 1 and the problem's detail as the one line on stderr. */
  const refused = (detail: string, token: string, ...args: string[]) => {
    const r = jb(token, ...args);
    expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 1, stderr: `jitbroker: ${detail}\n`, stdout: '' });
  };

  /** A table as rows of column → cell, read by the header's column positions. */
  function table(stdout: string): Array<Record<string, string>> {
    const [header = '', ...lines] = stdout.replace(/\n$/, '').split('\n');
    const names = header.split(/ +/);
    const starts = names.map((n) => header.indexOf(n));
    return lines.map((line) => Object.fromEntries(names.map((n, i) => [n, line.slice(starts[i], starts[i + 1]).trim()])));
  }
  /** One object printed as `key: value` lines. */
  function fields(stdout: string): Record<string, string> {
    return Object.fromEntries(
      stdout
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
    );
  }

  beforeAll(async () => {
    // The rotation worker runs once a minute, at second 0 (`*/60` in cron's seconds field): the
    // rotate test below times its calls away from it, so that the job it queued is still open.
    d = await startDaemonProcess({ env: { JITBROKER_ROTATION_WORKER_SECONDS: '60' } });
    env = { JITBROKER_URL: d.url, JITBROKER_DATA_DIR: path.join(d.dir, 'data') };
    const token = (sub: string, roles: string, groups = '') => {
      const r = runCli(['token', '--sub', sub, '--roles', roles, '--groups', groups], { env });
      if (r.code !== 0) throw new Error(r.stderr);
      return r.stdout.trim();
    };
    tokens.admin = token('it-admin', 'admin');
    tokens.alice = token('alice', 'requester', 'helpdesk');
    tokens.gina = token('gina', 'requester,approver', 'helpdesk');
    tokens.carol = token('carol', 'approver');
    tokens.dave = token('dave', 'auditor');
    for (const [id, groups] of [
      ['laptop-7', 'finance-laptops'],
      ['laptop-8', 'finance-laptops,sales-laptops'],
    ] as const) {
      const key = path.join(d.dir, `${id}.key`);
      fs.writeFileSync(path.join(d.dir, `${id}.jwk`), runCli(['agent', 'keygen', '--key', key], { env }).stdout);
      ok(tokens.admin, 'device', 'add', id, '--groups', groups, '--agent-key', path.join(d.dir, `${id}.jwk`), '-q');
    }
    policyId = ok(
      tokens.admin,
      'policy',
      'add',
      '--name',
      'helpdesk-finance',
      '--groups',
      'helpdesk',
      '--device-groups',
      'finance-laptops',
      '--max-duration',
      'PT4H',
      '--require-approval',
      '-q',
    ).trim();
    expect(policyId).toMatch(/^[0-9a-f-]{36}$/);
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
    fs.rmSync(d.dir, { recursive: true, force: true });
  });

  describe('device', () => {
    it('list: a table of the devices with their credential state; --json the page; --group filters', () => {
      const rows = table(ok(tokens.dave, 'device', 'list'));
      expect(rows.map((r) => [r.ID, r.STATUS, r.GROUPS, r.PENDINGVERSION, r.CURRENTVERSION])).toEqual([
        ['laptop-7', 'active', 'finance-laptops', '1', '-'],
        ['laptop-8', 'active', 'finance-laptops,sales-laptops', '1', '-'],
      ]);
      const page = json<{ items: Array<{ id: string; credential: { pendingVersion: number } }>; nextCursor: string | null }>(tokens.dave, 'device', 'list', '--limit', '1');
      expect(page.items.map((i) => [i.id, i.credential.pendingVersion])).toEqual([['laptop-7', 1]]);
      expect(page.nextCursor).toEqual(expect.any(String));
      expect(table(ok(tokens.dave, 'device', 'list', '--cursor', page.nextCursor as string)).map((r) => r.ID)).toEqual(['laptop-8']);
      expect(json<{ items: Array<{ id: string }> }>(tokens.dave, 'device', 'list', '--group', 'sales-laptops').items.map((i) => i.id)).toEqual(['laptop-8']);
    });

    it('rotate: prints the queued job, as a field, as JSON, or alone with -q', async () => {
      // The worker would settle the job (merged into the pending first password) at its next run,
      // and a later rotate would queue a new one: start with at least 20 s before that run.
      const second = new Date().getUTCSeconds();
      if (second >= 40) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
      const shown = fields(ok(tokens.admin, 'device', 'rotate', 'laptop-7'));
      expect(shown.jobId).toMatch(/^[0-9a-f-]{36}$/);
      // A second forced rotation merges into the open job.
      expect(json(tokens.admin, 'device', 'rotate', 'laptop-7')).toEqual({ jobId: shown.jobId });
      expect(ok(tokens.admin, 'device', 'rotate', 'laptop-7', '-q')).toBe(`${shown.jobId}\n`);
      refused('This needs the admin role; your token carries approver.', tokens.carol, 'device', 'rotate', 'laptop-7');
    });

    it('retire: the device as fields; --status retired lists it; retiring again is refused with the detail', () => {
      const shown = fields(ok(tokens.admin, 'device', 'retire', 'laptop-8'));
      expect(shown).toMatchObject({ id: 'laptop-8', status: 'retired' });
      expect(shown).not.toHaveProperty('agentKey');
      expect(json<{ items: Array<{ id: string; status: string }> }>(tokens.dave, 'device', 'list', '--status', 'retired').items).toEqual([
        expect.objectContaining({ id: 'laptop-8', status: 'retired' }),
      ]);
      refused("Device 'laptop-8' is already retired.", tokens.admin, 'device', 'retire', 'laptop-8');
      refused("No device 'laptop-99'.", tokens.admin, 'device', 'rotate', 'laptop-99');
    });
  });

  describe('policy', () => {
    it('list: a table; --json the page', () => {
      const rows = table(ok(tokens.dave, 'policy', 'list'));
      expect(rows).toEqual([
        expect.objectContaining({ ID: policyId, NAME: 'helpdesk-finance', ENABLED: 'true', DEVICEGROUPS: 'finance-laptops', MAXDURATION: 'PT4H', REQUIREAPPROVAL: 'true' }),
      ]);
      expect(json(tokens.dave, 'policy', 'list')).toEqual({ items: [expect.objectContaining({ id: policyId, principals: { groups: ['helpdesk'] } })], nextCursor: null });
    });

    it('show: the policy as fields, or as JSON; an unknown id is refused with the detail', () => {
      expect(fields(ok(tokens.admin, 'policy', 'show', policyId))).toMatchObject({
        id: policyId,
        name: 'helpdesk-finance',
        principals: '{"groups":["helpdesk"]}',
        requireApproval: 'true',
      });
      expect(json(tokens.admin, 'policy', 'show', policyId)).toMatchObject({ id: policyId, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H', requireTicket: false });
      refused("No policy '00000000-0000-4000-8000-000000000000'.", tokens.admin, 'policy', 'show', '00000000-0000-4000-8000-000000000000');
    });

    it('remove: says so, with how many open grants it ended (or {deleted, grantsEnded} with --json); the policy is gone after', () => {
      const add = (name: string) =>
        ok(tokens.admin, 'policy', 'add', '--name', name, '--roles', 'requester', '--device-groups', 'sales-laptops', '--max-duration', 'PT1H', '-q').trim();
      const first = add('temporary-1');
      expect(ok(tokens.admin, 'policy', 'remove', first)).toBe(`policy ${first} removed; 0 open grant(s) it made ended\n`);
      const second = add('temporary-2');
      expect(json(tokens.admin, 'policy', 'remove', second)).toEqual({ deleted: second, grantsEnded: 0 });
      refused(`No policy '${first}'.`, tokens.admin, 'policy', 'show', first);
      refused(`No policy '${second}'.`, tokens.admin, 'policy', 'remove', second);
      expect(json<{ items: Array<{ id: string }> }>(tokens.admin, 'policy', 'list').items.map((p) => p.id)).toEqual([policyId]);
    });
  });

  describe('grant', () => {
    it('approving your own grant is refused with the detail; another approver approves it; list shows it, as a table and as JSON', () => {
      const id = ok(tokens.gina, 'grant', 'request', '--device', 'laptop-7', '--reason', 'printer driver', '--duration', 'PT1H', '-q').trim();
      expect(fields(ok(tokens.gina, 'grant', 'show', id))).toMatchObject({ id, state: 'pending', requester: 'gina' });
      refused('A grant must be decided by another person than its requester.', tokens.gina, 'grant', 'approve', id);
      const pending = table(ok(tokens.carol, 'grant', 'list', '--state', 'pending'));
      expect(pending.map((r) => [r.ID, r.STATE, r.DEVICEID, r.REQUESTER, r.DURATION])).toEqual([[id, 'pending', 'laptop-7', 'gina', 'PT1H']]);
      const approved = json(tokens.carol, 'grant', 'approve', id, '--comment', 'change window open');
      expect(approved).toMatchObject({ id, state: 'active', decidedBy: 'carol', decisionComment: 'change window open', expiresAt: expect.any(String) });
      const listed = json<{ items: Array<{ id: string; state: string }> }>(tokens.carol, 'grant', 'list', '--requester', 'gina');
      expect(listed.items).toEqual([expect.objectContaining({ id, state: 'active' })]);
    });

    it('deny: the grant as fields with its state; a second decision is refused with the detail', () => {
      const id = ok(tokens.alice, 'grant', 'request', '--device', 'laptop-7', '--reason', 'vpn client', '--duration', 'PT2H', '-q').trim();
      expect(fields(ok(tokens.carol, 'grant', 'deny', id, '--reason', 'no change window'))).toMatchObject({ id, state: 'denied', requester: 'alice' });
      expect(ok(tokens.alice, 'grant', 'show', id, '-q')).toBe('denied\n');
      refused(`Grant ${id} is denied; it cannot become active.`, tokens.carol, 'grant', 'approve', id);
      refused("No grant '00000000-0000-4000-8000-000000000000' that you may see.", tokens.alice, 'grant', 'show', '00000000-0000-4000-8000-000000000000');
    });
  });

  describe('escalation', () => {
    it('file, list, show and status, as tables and JSON; a requester may not move one along', () => {
      const filed = json<{ id: string; routedTo: string }>(
        tokens.alice,
        'escalation',
        'file',
        '--category',
        'hardware',
        '--summary',
        'Docking station dead',
        '--device',
        'laptop-7',
      );
      expect(filed).toMatchObject({ status: 'submitted', severity: 'C', category: 'hardware', routedTo: 'vendor', submitter: 'alice', deviceId: 'laptop-7' });
      const rows = table(ok(tokens.alice, 'escalation', 'list'));
      expect(rows.map((r) => [r.ID, r.STATUS, r.SEVERITY, r.CATEGORY, r.ROUTEDTO, r.SUBMITTER, r.SUMMARY])).toEqual([
        [filed.id, 'submitted', 'C', 'hardware', 'vendor', 'alice', 'Docking station dead'],
      ]);
      expect(json<{ items: Array<{ id: string }> }>(tokens.admin, 'escalation', 'list', '--status', 'submitted').items.map((e) => e.id)).toEqual([filed.id]);
      expect(fields(ok(tokens.alice, 'escalation', 'show', filed.id))).toMatchObject({ id: filed.id, status: 'submitted', routedToName: 'the hardware vendor' });
      refused('Only an admin changes the status of an escalation.', tokens.alice, 'escalation', 'status', filed.id, '--status', 'acknowledged');
      expect(fields(ok(tokens.admin, 'escalation', 'status', filed.id, '--status', 'acknowledged', '--note', 'vendor case 7731'))).toMatchObject({
        status: 'acknowledged',
        statusNote: 'vendor case 7731',
      });
      expect(json(tokens.admin, 'escalation', 'status', filed.id, '--status', 'resolved')).toMatchObject({ id: filed.id, status: 'resolved' });
      expect(ok(tokens.alice, 'escalation', 'show', filed.id, '-q')).toBe('resolved\n');
      refused(`Escalation ${filed.id} is resolved; it cannot become rejected.`, tokens.admin, 'escalation', 'status', filed.id, '--status', 'rejected');
    });
  });

  describe('tables show control characters instead of obeying them', () => {
    // A row that a reason with a newline would forge, and what ESC and U+202E would do to the terminal.
    const forged = 'printer\n00000000-0000-4000-8000-000000000000  active  laptop-7  gina  PT1H';
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

    it('grant list and audit query print a reason with a newline, and a subject with ESC and U+202E, escaped on one row', () => {
      const r = runCli(['token', '--sub', 'mallory\u001b[2J\u202eevil', '--roles', 'requester', '--groups', 'helpdesk'], { env });
      expect(r.code).toBe(0);
      const mallory = r.stdout.trim();
      const id = ok(mallory, 'grant', 'request', '--device', 'laptop-7', '--reason', forged, '--duration', 'PT1H', '-q').trim();
      expect(json(tokens.carol, 'grant', 'show', id)).toMatchObject({ reason: forged, requester: 'mallory\u001b[2J\u202eevil' });

      const listed = ok(tokens.carol, 'grant', 'list', '--state', 'pending', '--device', 'laptop-7');
      expect(listed).not.toMatch(raw);
      const rows = table(listed);
      expect(rows).toHaveLength(json<{ items: unknown[] }>(tokens.carol, 'grant', 'list', '--state', 'pending', '--device', 'laptop-7').items.length);
      expect(rows.filter((row) => row.ID === id)).toEqual([
        expect.objectContaining({ REQUESTER: 'mallory\\x1b[2J\\u202eevil', REASON: 'printer\\n00000000-0000-4000-8000-000000000000  active  laptop-7  gina  PT1H' }),
      ]);
      expect(rows.filter((row) => row.ID === '00000000-0000-4000-8000-000000000000')).toEqual([]);

      const audit = ok(tokens.dave, 'audit', 'query', '--action', 'grant.requested');
      expect(audit).not.toMatch(raw);
      expect(table(audit)).toHaveLength(json<{ items: unknown[] }>(tokens.dave, 'audit', 'query', '--action', 'grant.requested').items.length);
      expect(audit).toContain('mallory\\x1b[2J\\u202eevil');
      expect(audit).toContain('printer\\n00000000-0000-4000-8000-000000000000');
    });

    it('the API refuses a reason with ESC or a bidi override (400), with the field named', () => {
      for (const reason of ['clear \u001b[2J the screen', 'file.\u202etxt.exe']) {
        refused(
          'The body is not valid: body.reason: must not contain control characters (other than tab and line breaks) or bidi overrides',
          tokens.alice,
          'grant',
          'request',
          '--device',
          'laptop-7',
          '--reason',
          reason,
          '--duration',
          'PT1H',
        );
      }
    });
  });
});
