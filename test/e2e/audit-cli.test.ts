import fs from 'node:fs';
import path from 'node:path';
import { runCli, startDaemonProcess } from '../support/daemon-process';

describe('auditors and support staff through the CLI', () => {
  it('exports the log, verifies it offline with the checkpoint key, and names the first bad event of an edited copy', async () => {
    const d = await startDaemonProcess();
    const env = { JITBROKER_DATA_DIR: path.join(d.dir, 'data'), JITBROKER_URL: d.url };
    const file = path.join(d.dir, 'audit.jsonl');
    const key = path.join(d.dir, 'pub.jwk');
    try {
      const auditor = runCli(['token', '--sub', 'dave', '--roles', 'auditor'], { env }).stdout.trim();
      const staff = runCli(['token', '--sub', 'alice', '--roles', 'requester'], { env }).stdout.trim();
      const filed = runCli(['escalation', 'file', '--token', staff, '--category', 'hardware', '--summary', 'Docking station dead', '-q'], { env });
      expect(filed.code).toBe(0);
      expect(filed.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
      const sevB = runCli(['escalation', 'file', '--token', staff, '--severity', 'B', '--category', 'hardware', '--summary', 'Site down'], { env });
      expect(sevB.code).toBe(1);
      expect(sevB.stderr).toMatch(/^jitbroker: Severity B is not filed here: only severity C is. Contact your IT admin/);
      expect(runCli(['audit', 'export', '--token', auditor, '--output', file], { env }).code).toBe(0);
      fs.writeFileSync(key, runCli(['audit', 'key', '--token', auditor], { env }).stdout);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      expect(await d.stop()).toBe(0);
    }
    // no daemon from here on
    const ok = runCli(['audit', 'verify', '--file', file, '--key', key, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, firstSeq: 1 });
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
});
