import fs from 'node:fs';
import path from 'node:path';
import { runCli, startDaemonProcess } from '../support/daemon-process';

describe('auditors and support staff through the CLI', () => {
  it('exports the log, verifies it offline with the checkpoint key, and names the first bad event of an edited copy', async () => {
    const d = await startDaemonProcess();
    const env = { JITBROKER_DATA_DIR: path.join(d.dir, 'data'), JITBROKER_URL: d.url };
    const file = path.join(d.dir, 'audit.jsonl');
    const key = path.join(d.dir, 'pub.jwk');
    let kept = '';
    try {
      const auditor = runCli(['token', '--sub', 'dave', '--roles', 'auditor'], { env }).stdout.trim();
      const staff = runCli(['token', '--sub', 'alice', '--roles', 'requester'], { env }).stdout.trim();
      const filed = runCli(['escalation', 'file', '--token', staff, '--category', 'hardware', '--summary', 'Docking station dead', '-q'], { env });
      expect(filed.code).toBe(0);
      expect(filed.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
      const sevB = runCli(['escalation', 'file', '--token', staff, '--severity', 'B', '--category', 'hardware', '--summary', 'Site down'], { env });
      expect(sevB.code).toBe(1);
      expect(sevB.stderr).toMatch(/^jitbroker: Severity B is not filed here: only severity C is. Contact your IT admin/);
      // a checkpoint the auditor keeps, signed before the export: the export holds it
      const checkpoint = runCli(['audit', 'checkpoint', '--token', auditor, '-q'], { env });
      expect(checkpoint.code).toBe(0);
      kept = checkpoint.stdout.trim();
      expect(kept).toMatch(/^\d+:[0-9a-f]{64}$/);
      expect(runCli(['audit', 'export', '--token', auditor, '--output', file], { env }).code).toBe(0);
      fs.writeFileSync(key, runCli(['audit', 'key', '--token', auditor], { env }).stdout);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // no daemon from here on
    const ok = runCli(['audit', 'verify', '--file', file, '--key', key, '--json']);
    expect(ok.code).toBe(0);
    // signed up to the kept head; after it only the checkpoint event itself and the export's own event
    const keptSeq = Number(kept.split(':')[0]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, firstSeq: 1, fromStart: true, signedThroughSeq: keptSeq, unsignedEvents: 2 });
    expect(ok.stderr).toBe(`note: events 1-${keptSeq} are vouched for by a checkpoint signature; the 2 after them are not signed yet (the next checkpoint will)\n`);
    expect(runCli(['audit', 'verify', '--file', file, '--key', key, '--anchor', kept, '-q']).stdout).toBe('ok\n');
    // with the key, an export no checkpoint vouches for proves nothing: the part after the checkpoint
    const after = path.join(path.dirname(file), 'after.jsonl');
    fs.writeFileSync(after, fs.readFileSync(file, 'utf8').trim().split('\n').slice(keptSeq).join('\n') + '\n');
    const unsigned = runCli(['audit', 'verify', '--file', after, '--key', key]);
    expect(unsigned.code).toBe(3);
    expect(unsigned.stdout).toMatch(/problem: no checkpoint signed by this key vouches for any of the 2 events/);
    expect(unsigned.stderr).toMatch(/^note: the export starts at event \d+ and was checked from there/);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const edited = JSON.parse(lines[0] as string) as { event: { reason?: string } };
    edited.event.reason = 'nothing to see here';
    lines[0] = JSON.stringify(edited);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const broken = runCli(['audit', 'verify', '--file', file]);
    expect(broken.code).toBe(3);
    expect(broken.stdout).toMatch(/ok: +false/);
    expect(broken.stdout).toMatch(/firstBadSeq: +1/);
    fs.rmSync(d.dir, { recursive: true, force: true });
  });

  it('queries the log with filters, as a table and as JSON, and pages by cursor', async () => {
    const d = await startDaemonProcess();
    const env = { JITBROKER_DATA_DIR: path.join(d.dir, 'data'), JITBROKER_URL: d.url };
    try {
      const auditor = runCli(['token', '--sub', 'dave', '--roles', 'auditor'], { env }).stdout.trim();
      const alice = runCli(['token', '--sub', 'alice', '--roles', 'requester'], { env }).stdout.trim();
      const bob = runCli(['token', '--sub', 'bob', '--roles', 'requester'], { env }).stdout.trim();
      const file = (token: string, device: string, summary: string) =>
        expect(runCli(['escalation', 'file', '--token', token, '--category', 'hardware', '--summary', summary, '--device', device, '-q'], { env }).code).toBe(0);
      file(alice, 'laptop-7', 'Docking station dead');
      file(bob, 'laptop-9', 'Fan noise');
      file(alice, 'laptop-9', 'Battery swollen');
      const refused = await fetch(`${d.url}/v1/devices`, { headers: { 'x-request-id': 'cli-query-refused' } });
      expect(refused.status).toBe(401);
      const query = (...args: string[]) => runCli(['audit', 'query', '--token', auditor, ...args], { env });
      type Page = {
        items: Array<{ seq: number; at: string; actor: { subject: string }; action: string; outcome: string; deviceId?: string; reason?: string }>;
        nextCursor: string | null;
      };
      const json = (...args: string[]): Page => {
        const r = query(...args, '--json');
        expect(r.code).toBe(0);
        return JSON.parse(r.stdout) as Page;
      };

      const byAlice = json('--actor', 'alice', '--action', 'escalation.submitted');
      expect(byAlice.items.map((e) => [e.actor.subject, e.deviceId, e.reason])).toEqual([
        ['alice', 'laptop-7', 'Docking station dead'],
        ['alice', 'laptop-9', 'Battery swollen'],
      ]);
      expect(byAlice.nextCursor).toBeNull();
      expect(json('--device', 'laptop-9').items.map((e) => e.reason)).toEqual(['Fan noise', 'Battery swollen']);
      expect(json('--actor', 'alice', '--device', 'laptop-9').items.map((e) => e.reason)).toEqual(['Battery swollen']);
      const refusedId = refused.headers.get('x-request-id') as string;
      const denied = json('--outcome', 'denied', '--request-id', refusedId);
      expect(denied.items).toMatchObject([{ action: 'auth.failed', outcome: 'denied', context: { requestId: refusedId, clientRequestId: 'cli-query-refused' } }]);

      // a time range: from the second escalation (inclusive) to the third (exclusive), when their times differ
      const all = json('--action', 'escalation.submitted').items;
      expect(all).toHaveLength(3);
      const [first, second, third] = all as [Page['items'][0], Page['items'][0], Page['items'][0]];
      const inRange = json('--action', 'escalation.submitted', '--from', second.at, '--to', third.at).items.map((e) => e.seq);
      expect(inRange).toEqual(all.filter((e) => e.at >= second.at && e.at < third.at).map((e) => e.seq));
      expect(json('--from', first.at, '--to', first.at).items).toEqual([]);

      // the table: the columns for people, one row per event, the actor's subject
      const table = query('--actor', 'alice', '--action', 'escalation.submitted');
      expect(table.code).toBe(0);
      const rows = table.stdout.trimEnd().split('\n');
      expect(rows[0]).toMatch(/^SEQ +AT +ACTOR +ACTION +OUTCOME +DEVICEID +TARGET +REASON$/);
      expect(rows.slice(1)).toHaveLength(2);
      expect(rows[1]).toMatch(new RegExp(`^${byAlice.items[0]?.seq} +\\S+ +alice +escalation\\.submitted +success +laptop-7 +escalation:[0-9a-f-]{36} +Docking station dead$`));
      expect(rows[2]).toMatch(/ alice +escalation\.submitted +success +laptop-9 .* Battery swollen$/);

      // paging: one event a page, the cursor printed under the table and taken back
      const page1 = query('--action', 'escalation.submitted', '--limit', '1');
      const cursor = /^\(more: --cursor (\S+)\)$/m.exec(page1.stdout)?.[1];
      expect(cursor).toBeDefined();
      const page2 = json('--action', 'escalation.submitted', '--limit', '1', '--cursor', cursor as string);
      expect(page2.items.map((e) => e.seq)).toEqual([second.seq]);

      // a bad filter: the problem's detail, and a non-zero exit
      const bad = query('--outcome', 'maybe');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^jitbroker: .*outcome/);
    } finally {
      expect(await d.stop()).toBe(0);
      fs.rmSync(d.dir, { recursive: true, force: true });
    }
  });
});
