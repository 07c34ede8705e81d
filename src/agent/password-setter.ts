import { spawn } from 'node:child_process';
import { Secret } from '../secrets/secret';
import { writeFileAtomic } from '../files/atomic-file';

/** Sets the local administrator's password on the device. Throws with a message that never holds the password. */
export interface PasswordSetter {
  set(account: string, password: Secret): Promise<void>;
}

export interface SetterOptions {
  /** The file setter's simulated device: the file that holds the account's password. */
  file?: string;
  /** The program the windows or linux setter runs, when it is not the usual one on the PATH. */
  command?: string;
  /** How long the program may run before it is stopped and the set reported failed (60 s). */
  timeoutMs?: number;
}

/** A command line and what goes to its standard input. The password travels on stdin only. */
export interface SetterInvocation {
  command: string;
  args: string[];
  stdin: string;
}

// Account names were validated at enrolment; checked again here because they reach a command line.
const accountName = /^[A-Za-z0-9._-]{1,64}$/;

function checkAccount(account: string): void {
  if (!accountName.test(account)) throw new Error(`refusing to set a password for account ${JSON.stringify(account).slice(0, 80)}: not 1-64 of A-Z a-z 0-9 . _ -`);
}

/**
 * Windows: PowerShell reads the password from stdin and hands Set-LocalUser a SecureString, so
 * the password is on no command line (visible to every process) and in no script block log.
 */
export function windowsInvocation(account: string, password: Secret, command = 'powershell.exe'): SetterInvocation {
  checkAccount(account);
  const script = [
    "$ErrorActionPreference = 'Stop'",
    '$plain = [Console]::In.ReadLine()',
    '$secure = ConvertTo-SecureString -String $plain -AsPlainText -Force',
    'Remove-Variable plain',
    `Set-LocalUser -Name '${account}' -Password $secure`,
  ].join('; ');
  return { command, args: ['-NoLogo', '-NoProfile', '-NonInteractive', '-Command', script], stdin: `${password.expose()}\n` };
}

/** Linux: chpasswd reads `account:password` lines from stdin. */
export function linuxInvocation(account: string, password: Secret, command = 'chpasswd'): SetterInvocation {
  checkAccount(account);
  return { command, args: [], stdin: `${account}:${password.expose()}\n` };
}

/**
 * Runs an invocation; fails with the exit status and the first line of stderr (the caller redacts
 * the password). The time limit is ours, not spawn's `timeout`: spawn arms its timer for a program
 * that never starts too and clears it only on exit, so a missing chpasswd kept `agent run --once`
 * alive for the whole minute after it had reported the failure.
 */
function run(inv: SetterInvocation, timeoutMs = 60000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(inv.command, inv.args, { stdio: ['pipe', 'ignore', 'pipe'], windowsHide: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${inv.command} could not be started: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const first = stderr.split('\n').find((l) => l.trim() !== '') ?? '';
      const how = timedOut ? `did not finish within ${timeoutMs / 1000} s and was stopped` : signal ? `was killed by ${signal}` : `exited with ${code}`;
      reject(new Error(`${inv.command} ${how}${first ? `: ${first.trim().slice(0, 300)}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(inv.stdin);
  });
}

/** A simulated device for tests and demos: the password lives in a 0600 file, replaced atomically. */
function createFileSetter(opts: SetterOptions): PasswordSetter {
  const file = opts.file;
  if (!file) throw new Error('the file setter needs --file PATH');
  return {
    async set(_account, password) {
      writeFileAtomic(file, password.expose());
    },
  };
}

export const passwordSetters = {
  windows: (opts: SetterOptions): PasswordSetter => ({ set: (account, password) => run(windowsInvocation(account, password, opts.command), opts.timeoutMs) }),
  linux: (opts: SetterOptions): PasswordSetter => ({ set: (account, password) => run(linuxInvocation(account, password, opts.command), opts.timeoutMs) }),
  file: createFileSetter,
} satisfies Record<string, (opts: SetterOptions) => PasswordSetter>;

export type SetterName = keyof typeof passwordSetters;
export const setterNames = Object.keys(passwordSetters) as SetterName[];
