/**
 * npm run bench:reveal — reveal throughput and latency of the real daemon (logging on, as
 * shipped) against a minimal baseline, alternating A B A B A B in one run.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { benchRateLimits, setUpRevealWorld, startServe, stop } from './daemon-process';
import { collectLatencies } from './latency';
import { machine } from './machine';
import { pct } from './percentile';
import { FakeKeyVault, startFakeKeyVault } from '../test/support/fake-key-vault';

// e.g. BENCH_DAEMON_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the daemon under the load.
const daemonNodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
// BENCH_PER_SECOND=1 prints each run's seconds (wall-clock start, replies, p99, the server's CPU time, the machine's idle,
// iowait and steal shares, the kernel's dirty and writeback page cache) and keeps the run's directory with the daemons' logs.
const perSecond = process.env.BENCH_PER_SECOND === '1';
// `-- --vault azure-keyvault` adds a daemon whose vault is Azure Key Vault (the local Key Vault server in this process).
const vaultArg = process.argv.indexOf('--vault');
const withAzure = vaultArg > 0 && process.argv[vaultArg + 1] === 'azure-keyvault';
// BENCH_COMPARE_DIST=<another checkout, built> adds that build's daemon (same setup) to every round,
// to measure a change against the code before it in one run on one machine.
const compareRoot = process.env.BENCH_COMPARE_DIST;
// BENCH_COMPARE_ENV='JITBROKER_X=1 JITBROKER_Y=2' adds the same build's daemon with those settings
// to every round, to measure a setting against the defaults in one run.
const compareEnv = Object.fromEntries(
  (process.env.BENCH_COMPARE_ENV ?? '')
    .split(' ')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

interface Target {
  name: string;
  url: string;
  token: string;
  /** The server's process, whose CPU time each run reads. */
  pid: number;
  stop(): Promise<void>;
}

function waitFor(proc: ChildProcess, pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${seen}`)), 30000);
    proc[stream]?.on('data', (b: Buffer) => {
      seen += b.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`exited ${code}: ${seen}`)));
  });
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return async () => {
    await stop(proc);
  };
}

/** The real daemon with an enrolled, acknowledged device and an active grant. */
async function startDaemon(dir: string, name = 'jitbroker reveal', extraEnv: Record<string, string> = {}, main?: string): Promise<Target> {
  const env = { ...process.env, JITBROKER_DATA_DIR: path.join(dir, 'data'), JITBROKER_PORT: '0', ...benchRateLimits, ...extraEnv };
  // As shipped, the daemon logs every request. Its log goes straight to a file, as under systemd,
  // not through a pipe this process would have to drain while it also drives the load.
  const { url, proc } = await startServe(path.join(dir, 'daemon.log'), env, daemonNodeArgs, main);
  const world = await setUpRevealWorld(url, env, dir);
  return { name, url: `${url}/v1/grants/${world.grantId}/password`, token: world.requester, pid: proc.pid as number, stop: stopper(proc) };
}

async function startBaseline(dir: string): Promise<Target> {
  const proc = spawn(process.execPath, [path.join(__dirname, 'baseline-server.js'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitFor(proc, /listening (\d+) (\S+)\n/);
  return { name: 'baseline', url: `http://127.0.0.1:${m[1]}/reveal/1`, token: m[2] as string, pid: proc.pid as number, stop: stopper(proc) };
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  /** Every reply's latency in ms, so the rounds' percentiles are taken over all their replies together. */
  latencies: number[];
  non2xx: number;
  /** The server process's CPU time (user + system, all its threads) per request, in µs. */
  cpuUs: number;
  /** Of the replies at or above this run's p99, the share that came in its first second. */
  firstSecondShare: number;
}

/** A process's CPU time so far (user + system, every thread), in µs, from /proc. */
function cpuTimeUs(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 a second on Linux); the name in field 2 may hold spaces, so count from its ')'.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10000;
}

/** The kernel's dirty and being-written-back page cache, in kB, from /proc/meminfo. */
function pageCache(): { dirtyKb: number; writebackKb: number } {
  const info = fs.readFileSync('/proc/meminfo', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(info)?.[1] ?? 0);
  return { dirtyKb: kb('Dirty'), writebackKb: kb('Writeback') };
}

/** The machine's CPU time so far, in clock ticks, by kind (/proc/stat's first line). */
function machineCpu(): { idle: number; iowait: number; steal: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  return { idle: f[3] ?? 0, iowait: f[4] ?? 0, steal: f[7] ?? 0, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
}

async function drive(t: Target, label: string): Promise<Figures> {
  const cpuBefore = cpuTimeUs(t.pid);
  type Sample = { at: number; dirtyKb: number; writebackKb: number; cpu: ReturnType<typeof machineCpu>; server: number };
  const samples: Sample[] = [];
  const started = performance.now();
  const startedAt = Date.now();
  const sample = () => ({ at: (performance.now() - started) / 1000, ...pageCache(), cpu: machineCpu(), server: cpuTimeUs(t.pid) });
  const sampler = perSecond
    ? setInterval(() => {
        // A server that has exited has no /proc entry; the run's own error says why.
        try {
          samples.push(sample());
        } catch {
          clearInterval(sampler);
        }
      }, 50)
    : undefined;
  if (perSecond) samples.push(sample());
  let replies: ReturnType<typeof collectLatencies> = { latencies: [], at: [] };
  let r: autocannon.Result;
  try {
    r = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon({ url: t.url, connections, duration: seconds, headers: { authorization: `Bearer ${t.token}` } }, (err, result) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
      );
      replies = collectLatencies(instance);
    });
  } finally {
    clearInterval(sampler);
  }
  const { latencies, at } = replies;
  if (perSecond) {
    // Each second runs from the last sample before it to its own last one, so no time falls between seconds.
    let from = samples[0] as Sample;
    for (let s = 0; s < seconds; s++) {
      const inSecond = latencies.filter((_l, i) => (at[i] ?? 0) >= s && (at[i] ?? 0) < s + 1);
      const within = samples.filter((c) => c.at >= s && c.at < s + 1);
      const to = within[within.length - 1] ?? from;
      const ticks = to.cpu.total - from.cpu.total;
      const share = (k: 'idle' | 'iowait' | 'steal') => (ticks > 0 ? `${(((to.cpu[k] - from.cpu[k]) / ticks) * 100).toFixed(0)}%` : '-');
      const p99 = inSecond.length > 0 ? `${pct(inSecond, 99).toFixed(2)} ms` : '-';
      console.log(
        `  ${new Date(startedAt + s * 1000).toISOString().slice(11, 23)} ${label} ${t.name} second ${s}: ${inSecond.length} replies, p99 ${p99}, server CPU ${((to.server - from.server) / 1000).toFixed(0)} ms, machine idle ${share('idle')} iowait ${share('iowait')} steal ${share('steal')}, dirty ≤ ${Math.max(0, ...within.map((c) => c.dirtyKb))} kB, writeback ≤ ${Math.max(0, ...within.map((c) => c.writebackKb))} kB`,
      );
      from = to;
    }
  }
  const cpuUs = (cpuTimeUs(t.pid) - cpuBefore) / Math.max(1, r.requests.total);
  // Where in the run the slowest 1% of replies fell: a start-of-run transient would show as a share of the first second far above 1/seconds.
  const p99 = pct(latencies, 99);
  const slow = at.filter((_at, i) => (latencies[i] ?? 0) >= p99);
  const firstSecondShare = slow.filter((at) => at < 1).length / Math.max(1, slow.length);
  return { rps: r.requests.average, p50: pct(latencies, 50), p99, latencies, non2xx: r.non2xx + r.errors, cpuUs, firstSecondShare };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  console.log(`load: autocannon, ${connections} connections, ${seconds} s per run, ${rounds} rounds of A (jitbroker) then B (baseline)`);
  if (process.env.BENCH_BASELINE_BORN === '1') console.log("baseline: requests and responses born with express's prototypes, as the daemon's (BENCH_BASELINE_BORN=1)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-'));
  fs.mkdirSync(path.join(dir, 'a'));
  fs.mkdirSync(path.join(dir, 'b'));
  // Everything started is stopped however the run ends, so a failed start leaves no daemon behind.
  const started: Target[] = [];
  const start = async (t: Promise<Target>) => {
    const target = await t;
    started.push(target);
    return target;
  };
  let kv: FakeKeyVault | undefined;
  const results: Record<string, Figures[]> = {};
  let a: Target;
  let b: Target;
  let c: Target | undefined;
  let d: Target;
  let e: Target | undefined;
  let withEnv: Target | undefined;
  try {
    a = await start(startDaemon(path.join(dir, 'a')));
    // The daemon remembers tokens it verified (identity.verifyCache); the baseline verifies ES256 on
    // every request. D is the daemon with that cache off, so the comparison is also like for like.
    fs.mkdirSync(path.join(dir, 'd'));
    d = await start(startDaemon(path.join(dir, 'd'), 'jitbroker, no token cache', { JITBROKER_IDENTITY_VERIFY_CACHE_MAX_ENTRIES: '0' }));
    b = await start(startBaseline(path.join(dir, 'b')));
    if (withAzure) {
      fs.mkdirSync(path.join(dir, 'c'));
      kv = await startFakeKeyVault({ clients: { 'bench-app': 'bench-secret' } });
      fs.writeFileSync(path.join(dir, 'c', 'ca.pem'), kv.ca);
      c = await start(
        startDaemon(path.join(dir, 'c'), 'jitbroker on AKV', {
          JITBROKER_VAULT_BACKEND: 'azure-keyvault',
          JITBROKER_VAULT_AZURE_URL: kv.base,
          JITBROKER_VAULT_AZURE_CA_FILE: path.join(dir, 'c', 'ca.pem'),
          JITBROKER_VAULT_AZURE_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
          JITBROKER_VAULT_AZURE_CREDENTIAL_KIND: 'client-secret',
          JITBROKER_VAULT_AZURE_CREDENTIAL_TENANT_ID: kv.tenantId,
          JITBROKER_VAULT_AZURE_CREDENTIAL_CLIENT_ID: 'bench-app',
          JITBROKER_VAULT_AZURE_CREDENTIAL_AUTHORITY_HOST: kv.base,
          AZURE_CLIENT_SECRET: 'bench-secret',
        }),
      );
      console.log(`vault: C is the same daemon with vault.backend azure-keyvault, against the local Key Vault server (HTTPS, in this process)`);
    }
    if (compareRoot) {
      fs.mkdirSync(path.join(dir, 'e'));
      e = await start(startDaemon(path.join(dir, 'e'), `jitbroker at ${path.basename(compareRoot)}`, {}, path.join(compareRoot, 'dist', 'cli', 'main.js')));
      console.log(`compare: E is the daemon built in ${compareRoot}, set up the same way`);
    }
    if (Object.keys(compareEnv).length > 0) {
      fs.mkdirSync(path.join(dir, 'f'));
      const label = Object.entries(compareEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      withEnv = await start(startDaemon(path.join(dir, 'f'), `jitbroker with ${label}`, compareEnv));
      console.log(`compare: F is this build's daemon with ${label}, set up the same way`);
    }
    const targets = [a, d, ...(c ? [c] : []), ...(e ? [e] : []), ...(withEnv ? [withEnv] : []), b];
    for (const t of targets) results[t.name] = [];
    for (const t of targets) await drive(t, 'warm-up'); // not counted
    for (let i = 0; i < rounds; i++) {
      for (const t of targets) {
        const f = await drive(t, `round ${i + 1}`);
        results[t.name]?.push(f);
        console.log(
          `round ${i + 1} ${t.name.padEnd(26)} ${f.rps.toFixed(0).padStart(6)} req/s  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms  CPU ${f.cpuUs.toFixed(0)} µs/request  slowest 1% in 1st s ${(f.firstSecondShare * 100).toFixed(0)}%${f.non2xx ? `  non-2xx/errors ${f.non2xx}` : ''}`,
        );
      }
    }
  } finally {
    for (const t of started) await t.stop();
    await kv?.close();
  }
  const sum = (name: string) => {
    const fs_ = results[name] as Figures[];
    const all = fs_.flatMap((f) => f.latencies);
    return {
      rps: mean(fs_.map((f) => f.rps)),
      p50: pct(all, 50),
      p99: pct(all, 99),
      cpu: mean(fs_.map((f) => f.cpuUs)),
      bad: fs_.reduce((n, f) => n + f.non2xx, 0),
    };
  };
  type Summary = ReturnType<typeof sum>;
  const report = (name: string, X: Summary) =>
    console.log(`${name}: ${X.rps.toFixed(0)} req/s, p50 ${X.p50.toFixed(2)} ms, p99 ${X.p99.toFixed(2)} ms, CPU ${X.cpu.toFixed(0)} µs/request, non-2xx ${X.bad}`);
  // CPU per request is the server's own cost; req/s also moves with whatever else the machine runs.
  const ratio = (what: string, X: Summary, Y: Summary, target = '') =>
    console.log(`ratio (${what}): req/s ${(X.rps / Y.rps).toFixed(2)}×, p99 ${(X.p99 / Y.p99).toFixed(2)}×, CPU per request ${(X.cpu / Y.cpu).toFixed(2)}×${target}`);
  const A = sum(a.name);
  const B = sum(b.name);
  const D = sum(d.name);
  console.log('');
  report(a.name, A);
  report(d.name, D);
  report(b.name, B);
  ratio('jitbroker as shipped / baseline', A, B, ' (target: req/s ≥ 1.0×, p99 ≤ 1.0×)');
  ratio('jitbroker, no token cache / baseline', D, B);
  if (e) {
    const E = sum(e.name);
    report(e.name, E);
    ratio(`jitbroker as shipped / ${e.name}`, A, E);
    ratio(`${e.name} / baseline`, E, B);
  }
  if (withEnv) {
    const F = sum(withEnv.name);
    report(withEnv.name, F);
    ratio(`${withEnv.name} / as shipped`, F, A);
    ratio(`${withEnv.name} / baseline`, F, B);
  }
  if (c && kv) {
    const C = sum(c.name);
    report(c.name, C);
    ratio('AKV / local vault', C, A);
    console.log(`Key Vault requests served: ${kv.log.length}`);
  }
  // A run whose answers were not all 200 measured something else (a refusal is cheaper than a reveal).
  const refused = Object.values(results).reduce((n, fs_) => n + fs_.reduce((m, f) => m + f.non2xx, 0), 0);
  if (refused > 0) {
    console.error(`INVALID RUN: ${refused} answers were not 2xx; the figures above do not measure reveals`);
    process.exitCode = 1;
  }
  const log = fs.readFileSync(path.join(dir, 'a', 'daemon.log'), 'utf8');
  console.log(`daemon log: ${log.split('\n').length - 1} lines; audit: every reveal is an event in ${path.join(dir, 'a', 'data')}`);
  // With BENCH_PER_SECOND=1 the daemons' logs stay, to read against the seconds printed.
  if (perSecond) console.log(`kept: ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
