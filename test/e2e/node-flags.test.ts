import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { daemonNodeFlags, missingNodeFlags } from '../../src/node-flags';
import { repoRoot, startDaemonProcess } from '../support/daemon-process';

// The flags every launcher gives node (src/node-flags.ts). The systemd unit and the image's
// entrypoint are held to them in systemd-unit.test.ts and docker-entrypoint.test.ts.
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const notice = 'node was started without the flags the launchers give it';

describe("the launchers' node flags", () => {
  it('npm start runs the package bin as `serve` with them', () => {
    expect(pkg.scripts.start?.split(' ')).toEqual(['node', ...daemonNodeFlags, pkg.bin.jitbroker, 'serve']);
  });

  it('this node accepts each of them (it refuses a flag it does not know)', () => {
    const ok = spawnSync(process.execPath, [...daemonNodeFlags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const unknown = spawnSync(process.execPath, ['--no-such-jitbroker-flag', '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('--no-such-jitbroker-flag');
  });

  it('missingNodeFlags names the ones a process lacks', () => {
    expect(missingNodeFlags([])).toEqual([...daemonNodeFlags]);
    expect(missingNodeFlags(['--inspect', ...daemonNodeFlags])).toEqual([]);
  });

  it('a daemon started without them says so once, at start-up; one started with them does not', async () => {
    const without = await startDaemonProcess({ nodeFlags: [] });
    const withFlags = await startDaemonProcess();
    try {
      const lines = without
        .output()
        .split('\n')
        .filter((l) => l.includes(notice));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 30, missing: [...daemonNodeFlags] });
      expect(withFlags.output()).toContain('jitbroker listening');
      expect(withFlags.output()).not.toContain(notice);
    } finally {
      expect(await without.stop()).toBe(0);
      expect(await withFlags.stop()).toBe(0);
    }
  });
});
