import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { linuxInvocation, passwordSetters, windowsInvocation } from '../../src/agent/password-setter';
import { Secret } from '../../src/secrets/secret';

const password = new Secret('Tr1cky$-p@ss;word&(x)');

/** A stand-in for powershell.exe or chpasswd: records its arguments and standard input, exits as told. */
function fakeCommand(dir: string, exitCode = 0, stderr = ''): { command: string; record: () => { argv: string[]; stdin: string } } {
  const command = path.join(dir, `fake-${exitCode}`);
  const out = path.join(dir, `record-${exitCode}.json`);
  fs.writeFileSync(
    command,
    `#!${process.execPath}\nlet stdin = '';\nprocess.stdin.on('data', (d) => (stdin += d));\nprocess.stdin.on('end', () => {\n  require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ argv: process.argv.slice(2), stdin }));\n  process.stderr.write(${JSON.stringify(stderr)});\n  process.exit(${exitCode});\n});\n`,
    { mode: 0o755 },
  );
  return { command, record: () => JSON.parse(fs.readFileSync(out, 'utf8')) as { argv: string[]; stdin: string } };
}

describe('password setters put the password on stdin, never on a command line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-setter-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('windows: PowerShell reads a line from stdin into a SecureString for Set-LocalUser', () => {
    const inv = windowsInvocation('localadmin', password);
    expect(inv.command).toBe('powershell.exe');
    expect(inv.args.slice(0, 4)).toEqual(['-NoLogo', '-NoProfile', '-NonInteractive', '-Command']);
    const script = inv.args[4] as string;
    expect(script).toContain('[Console]::In.ReadLine()');
    expect(script).toContain('ConvertTo-SecureString -String $plain -AsPlainText -Force');
    expect(script).toContain("Set-LocalUser -Name 'localadmin' -Password $secure");
    expect(JSON.stringify(inv.args)).not.toContain(password.expose());
    expect(inv.stdin).toBe(`${password.expose()}\n`);
  });

  it('linux: chpasswd gets account:password on stdin and no arguments', () => {
    const inv = linuxInvocation('root', password);
    expect(inv).toEqual({ command: 'chpasswd', args: [], stdin: `root:${password.expose()}\n` });
  });

  it.each([["o'brien"], ['admin; rm -rf /'], ['$(whoami)'], [''], ['a'.repeat(65)]])('refuses the account name %j, which could escape the command', (account) => {
    expect(() => windowsInvocation(account, password)).toThrow(/refusing to set a password/);
    expect(() => linuxInvocation(account, password)).toThrow(/refusing to set a password/);
  });

  it.each(['windows', 'linux'] as const)('%s: runs the program with the password on stdin only', async (name) => {
    const fake = fakeCommand(dir);
    await passwordSetters[name]({ command: fake.command }).set('localadmin', password);
    const { argv, stdin } = fake.record();
    expect(stdin).toContain(password.expose());
    expect(argv.join(' ')).not.toContain(password.expose());
  });

  it('reports a failing program with its exit status and first stderr line', async () => {
    const fake = fakeCommand(dir, 3, 'Set-LocalUser : Access is denied.\nmore detail\n');
    await expect(passwordSetters.windows({ command: fake.command }).set('localadmin', password)).rejects.toThrow(
      `${fake.command} exited with 3: Set-LocalUser : Access is denied.`,
    );
  });

  it('reports a program that is not there, and leaves no timer behind (agent run --once exits as soon as it has reported)', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await expect(passwordSetters.linux({ command: path.join(dir, 'no-such-chpasswd') }).set('root', password)).rejects.toThrow(/could not be started/);
    expect(timers()).toBe(before);
  });

  it('stops a program that hangs after its time limit and reports that, not a bare signal', async () => {
    const hung = path.join(dir, 'hung-chpasswd');
    fs.writeFileSync(hung, `#!${process.execPath}\nprocess.stdin.resume();\nsetInterval(() => undefined, 1000);\n`, { mode: 0o755 });
    await expect(passwordSetters.linux({ command: hung, timeoutMs: 300 }).set('root', password)).rejects.toThrow(`${hung} did not finish within 0.3 s and was stopped`);
  });

  it('file: replaces the simulated device password atomically, mode 0600', async () => {
    const file = path.join(dir, 'device.pw');
    await passwordSetters.file({ file }).set('localadmin', password);
    expect(fs.readFileSync(file, 'utf8')).toBe(password.expose());
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});
