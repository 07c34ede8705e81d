import fs from 'node:fs';

/**
 * Named crash points for the crash tests, in the manner of FoundationDB's and etcd's failpoints:
 * with JITBROKER_FAILPOINTS=name[,name…] in its environment the process SIGKILLs itself when it
 * reaches that point, as a power cut would, with nothing flushed or rolled back on its way out.
 * `name@ms` kills it that many milliseconds after it first reaches the point instead, while it
 * goes on working: the crash lands somewhere in what follows, for tests with randomised timing.
 * Unset, as in production, a failpoint costs one Map lookup. The entry points (serve, agent run)
 * arm them from their environment: nothing else reads it.
 */
const armed = new Map<string, number>();

/** Arms the failpoints a JITBROKER_FAILPOINTS value names (`name[@ms][,name…]`); undefined or empty arms none. */
export function armFailpoints(setting: string | undefined): void {
  for (const s of (setting ?? '').split(',').map((x) => x.trim())) {
    if (s === '') continue;
    const [name, delay] = s.split('@');
    armed.set(name as string, Math.max(0, Number(delay ?? 0) || 0));
  }
}

export function failpoint(name: string): void {
  const delayMs = armed.get(name);
  if (delayMs === undefined) return;
  const kill = () => {
    fs.writeSync(2, `failpoint ${name}: killing process ${process.pid}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  if (delayMs === 0) return kill();
  // Once: the first arrival starts the countdown.
  armed.delete(name);
  setTimeout(kill, delayMs);
}
