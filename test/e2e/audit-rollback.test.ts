import fs from 'node:fs';
import path from 'node:path';
import { DaemonProcess, runCli, startDaemonProcess } from '../support/daemon-process';
import os from 'node:os';
import { bearer } from '../support/bearer';

describe('a database restored from an older copy', () => {
  it('is refused at start-up against its last signed checkpoint, and caught by the checkpoint an auditor kept', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-rollback-'));
    const data = path.join(dir, 'data');
    const db = path.join(data, 'jitbroker.db');
    const env = { JITBROKER_DATA_DIR: data };
    const token = () => runCli(['token', '--sub', 'dave', '--roles', 'auditor,admin'], { env }).stdout.trim();
    let d: DaemonProcess | undefined;
    try {
      d = await startDaemonProcess({ cwd: dir });
      const auditor = token();
      const call = (method: string, route: string) => fetch((d as DaemonProcess).url + route, { method, headers: { ...bearer(auditor) } });
      await call('GET', '/v1/devices');
      expect(await d.stop()).toBe(0);
      fs.copyFileSync(db, path.join(dir, 'old.db'));

      d = await startDaemonProcess({ cwd: dir });
      // refused requests are audited: five events the restore will lose
      for (let i = 0; i < 5; i++) await fetch(`${d.url}/v1/devices`);
      const kept = (await (await call('POST', '/v1/audit/checkpoints')).json()) as { seq: number; hash: string };
      expect(kept.seq).toBeGreaterThanOrEqual(5);
      expect(await d.stop()).toBe(0);

      // restore the older copy: the reveals, refusals and checkpoint since are gone
      fs.copyFileSync(path.join(dir, 'old.db'), db);
      const refused = runCli(['serve'], { env: { ...env, JITBROKER_PORT: '0' } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/audit log ends at event \d+ but its last signed checkpoint .* vouches for event \d+.*restored from an older copy/);

      // on purpose, say after a disaster: it starts, says so in the log and the audit, and the kept checkpoint still tells
      d = await startDaemonProcess({ cwd: dir, env: { JITBROKER_AUDIT_ACCEPT_ROLLBACK: 'true' } });
      expect(d.output()).toMatch(/starting on an audit log that went back in time/);
      const verify = (await (await call('GET', `/v1/audit/verify?anchor=${kept.seq}:${kept.hash}`)).json()) as { ok: boolean; problem: string };
      expect(verify.ok).toBe(false);
      const accepted = (await (await call('GET', '/v1/audit/events?action=audit.rollback-accepted')).json()) as { items: unknown[] };
      expect(accepted.items).toHaveLength(1);
      expect(await d.stop()).toBe(0);
      // the next start is clean: a fresh checkpoint was signed on the accepted log
      d = await startDaemonProcess({ cwd: dir });
      expect(await d.stop()).toBe(0);
    } finally {
      await d?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
