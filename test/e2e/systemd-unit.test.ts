import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, repoRoot } from '../support/daemon-process';

const unitFile = path.join(repoRoot, 'scripts', 'jitbroker.service');
const unitText = fs.readFileSync(unitFile, 'utf8');

/** section → key → every value it is given, in order (systemd keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get('Service') ?? new Map<string, string[]>();
const value = (key: string) => service.get(key)?.at(-1);
const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('the systemd unit (scripts/jitbroker.service)', () => {
  it('runs the built CLI (the package bin) as `serve`, with its state directory as the data dir', () => {
    const execStart = value('ExecStart')?.split(/\s+/) ?? [];
    const bin = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.jitbroker;
    expect(execStart).toEqual(['/usr/bin/node', `/opt/jitbroker/${bin}`, 'serve']);
    expect(path.join(repoRoot, bin as string)).toBe(cliPath);
    expect(fs.existsSync(cliPath)).toBe(true);
    expect(value('StateDirectory')).toBe('jitbroker');
    expect(value('StateDirectoryMode')).toBe('0700');
    expect(service.get('Environment')).toContain('JITBROKER_DATA_DIR=%S/jitbroker');
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('runs as its own unprivileged user in a sandbox', () => {
    expect(value('User')).toBe('jitbroker');
    expect(value('DynamicUser')).toBe('yes');
    expect(value('CapabilityBoundingSet')).toBe('');
    expect(value('UMask')).toBe('0077');
    expect(value('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(value('SystemCallFilter')).toBe('@system-service');
    for (const key of [
      'NoNewPrivileges',
      'PrivateTmp',
      'PrivateDevices',
      'ProtectHome',
      'ProtectKernelTunables',
      'ProtectKernelModules',
      'ProtectKernelLogs',
      'ProtectControlGroups',
      'RestrictNamespaces',
      'LockPersonality',
    ]) {
      expect([key, value(key)]).toEqual([key, 'yes']);
    }
    expect(value('ProtectSystem')).toBe('strict');
    // V8's JIT needs memory that is writable and then executable.
    expect(['no', undefined]).toContain(value('MemoryDenyWriteExecute'));
  });

  it('stops with SIGTERM and waits longer than the daemon drains (shutdownGraceSeconds); restarts on failure but not on a refusal', () => {
    const defaults = JSON.parse(fs.readFileSync(path.join(repoRoot, 'config', 'default.json'), 'utf8')) as { shutdownGraceSeconds: number };
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(Number(value('TimeoutStopSec'))).toBeGreaterThan(defaults.shutdownGraceSeconds);
    expect(Number(value('TimeoutStopSec'))).toBeLessThanOrEqual(defaults.shutdownGraceSeconds + 10);
    expect(value('Restart')).toBe('on-failure');
    expect(value('RestartPreventExitStatus')).toBe('2');
  });

  (systemdAnalyze ? it : it.skip)('passes systemd-analyze verify (with ExecStart pointed at this checkout)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-unit-'));
    try {
      const copy = path.join(dir, 'jitbroker.service');
      fs.writeFileSync(copy, unitText.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${cliPath} serve`));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
