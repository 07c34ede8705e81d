import fs from 'node:fs';

/**
 * Named crash points for the crash tests, in the manner of FoundationDB's and etcd's failpoints:
 * with JITBROKER_FAILPOINTS=name[,name…] in its environment the process SIGKILLs itself when it
 * reaches that point, as a power cut would, with nothing flushed or rolled back on its way out.
 * Unset, as in production, a failpoint costs one Set lookup.
 */
const armed = new Set(
  (process.env.JITBROKER_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);

export function failpoint(name: string): void {
  if (!armed.has(name)) return;
  fs.writeSync(2, `failpoint ${name}: killing process ${process.pid}\n`);
  process.kill(process.pid, 'SIGKILL');
}
