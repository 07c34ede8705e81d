/**
 * npm run bench:rotation — a 10,000-device fleet whose passwords all come due at once, worked off
 * by the real daemon with simulated device agents, while a probe measures reveal latency; then the
 * cost of one scheduler tick at 10,000 and 100,000 devices with 100 due.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import BetterSqlite3 from 'better-sqlite3';
import { exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { createServices } from '../src/app';
import { openInfra } from '../src/infra';
import { loadConfig } from '../src/config/load-config';
import { UserPrincipal } from '../src/identity/principal';
import { startServe } from './daemon-process';
import { machine } from './machine';
import { metricValue } from './metrics-text';
import { collectLatencies } from './latency';
import { pct } from './percentile';
import { AgentsReport, AgentsTask, runAgents } from './rotation-agents';
import type { Stall } from './stall-recorder';

// e.g. BENCH_DAEMON_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the daemon under the load.
const daemonNodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
// BENCH_STALLS=1: the daemon records what fills each event-loop stall over 25 ms (bench/stall-recorder.ts); printed for the rotation.
const recordStalls = process.env.BENCH_STALLS === '1';
const fleetSize = Number(process.env.BENCH_DEVICES ?? 10000);
// As shipped, an agent polls every 30 s; each simulated agent keeps that rhythm from a random phase.
const agentIntervalMs = Number(process.env.BENCH_AGENT_INTERVAL_SECONDS ?? 30) * 1000;
// The simulated agents run in this many child processes (0: in this process, beside the reveal probe,
// where their token signing delays the probe's own reading of replies).
const agentProcesses = Number(process.env.BENCH_AGENT_PROCESSES ?? 2);
// The simulated agents stand for 10,000 devices, each with its own CPU; here they share the daemon's
// two cores. Their processes run at this nice level (default 19, the lowest priority) so that their
// token signing takes what CPU the daemon leaves, not the daemon's. 0 runs them at the daemon's priority.
const agentNice = Number(process.env.BENCH_AGENT_NICE ?? 19);
const admin: UserPrincipal = { kind: 'user', subject: 'bench-admin', roles: ['admin'], groups: [] };
const ctx = { requestId: 'bench-seed' };

/** Enrols the fleet through the services (as the API would), acknowledges every first password, and opens one grant to reveal. */
async function seedFleet(dataDir: string, publicJwk: object): Promise<{ token: string; grantId: string }> {
  const config = loadConfig({ env: { JITBROKER_DATA_DIR: dataDir } });
  const infra = await openInfra(config, { env: {}, logger: pino({ level: 'silent' }) });
  const s = await createServices(config, infra);
  const started = Date.now();
  const ids = Array.from({ length: fleetSize }, (_, i) => `pc-${String(i).padStart(6, '0')}`);
  for (let i = 0; i < ids.length; i += 200) {
    // Each enrolment needs a key of its own (one agent key, one device); the simulated agents then
    // share the bench's one key, set in the store directly, so one process can play the whole fleet.
    const keys = await Promise.all(ids.slice(i, i + 200).map(async () => exportJWK((await generateKeyPair('ES256')).publicKey)));
    await Promise.all(ids.slice(i, i + 200).map((id, k) => s.devices.enrolDevice(admin, { id, groups: ['fleet'], agentKey: keys[k] as never }, ctx)));
    await infra.db
      .updateTable('devices')
      .set({ agent_key: JSON.stringify(publicJwk) })
      .where('id', 'in', ids.slice(i, i + 200))
      .execute();
    await Promise.all(
      ids.slice(i, i + 200).map(async (id) => {
        const p = await s.rotations.fetchPending(id, ctx);
        if (p) await s.rotations.acknowledge(id, p.version, 'set', undefined, ctx);
      }),
    );
  }
  await s.devices.enrolDevice(admin, { id: 'reveal-1', groups: ['desk'], agentKey: (await exportJWK((await generateKeyPair('ES256')).publicKey)) as never }, ctx);
  const p = await s.rotations.fetchPending('reveal-1', ctx);
  await s.rotations.acknowledge('reveal-1', p!.version, 'set', undefined, ctx);
  await s.policies.createPolicy(
    admin,
    { name: 'desk', principals: { groups: ['helpdesk'] }, deviceGroups: ['desk'], maxDuration: 'PT4H', requireTicket: false, requireApproval: false, enabled: true },
    ctx,
  );
  const alice: UserPrincipal = { kind: 'user', subject: 'alice', roles: ['requester'], groups: ['helpdesk'] };
  const grant = await s.grants.requestGrant(alice, { deviceId: 'reveal-1', reason: 'bench probe', duration: 'PT4H' }, ctx);
  const token = await s.issueToken({ sub: 'alice', roles: ['requester'], groups: ['helpdesk'], ttlSeconds: 4 * 3600 });
  await s.transactor.drain();
  await infra.close();
  console.log(`seeded ${fleetSize} devices with acknowledged passwords in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { token, grantId: grant.id };
}

async function probe(url: string, token: string, seconds: number): Promise<{ p50: number; p99: number; requests: number; non2xx: number; stop: () => void; done: Promise<void> }> {
  const figures = { p50: 0, p99: 0, requests: 0, non2xx: 0 };
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const connections = 4;
  const rate = 100;
  const instance = autocannon({ url, connections, overallRate: rate, duration: seconds, headers: { authorization: `Bearer ${token}` } }, (err, r) => {
    if (!err) Object.assign(figures, { p50: pct(latencies, 50), p99: pct(latencies, 99), requests: r.requests.total, non2xx: r.non2xx + r.errors });
    finished();
  });
  // Each connection sends every connections/rate seconds.
  const { latencies } = collectLatencies(instance, (1000 * connections) / rate);
  return Object.assign(figures, { stop: () => instance.stop(), done });
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Calls `reached` with the time every fleet device first had a second version, checking every 250 ms in a worker thread. */
function watchAllPending(dbFile: string, reached: (at: number) => void): Worker {
  const source = `
const { parentPort, workerData } = require('node:worker_threads');
const db = new (require(workerData.driver))(workerData.dbFile, { readonly: true });
const count = db.prepare("SELECT count(*) AS n FROM credential_versions WHERE version = 2 AND device_id LIKE 'pc-%'");
const timer = setInterval(() => {
  if (count.get().n < workerData.fleetSize) return;
  parentPort.postMessage(Date.now());
  clearInterval(timer);
}, 250);
`;
  const worker = new Worker(source, { eval: true, workerData: { dbFile, fleetSize, driver: require.resolve('better-sqlite3') } });
  worker.on('message', (at: number) => reached(at));
  return worker;
}

/** A child process running the agents of `task`; resolves with its final counts, rejects with its error. */
function agentPool(task: AgentsTask): Promise<AgentsReport> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'rotation-agents.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (agentNice !== 0) os.setPriority(child.pid as number, agentNice);
    let last: AgentsReport = { polls: 0, acked: 0 };
    child.on('message', (m: AgentsReport) => {
      last = m;
      if (m.error) reject(new Error(`simulated agents: ${m.error}`));
    });
    child.once('exit', (code) => (last.done ? resolve(last) : reject(new Error(`simulated agents exited ${code} after ${last.acked} acknowledgements`))));
    child.send(task);
  });
}

async function fleetRotation(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-rotation-'));
  const dataDir = path.join(dir, 'data');
  const pair = await generateKeyPair('ES256', { extractable: true });
  const { token, grantId } = await seedFleet(dataDir, await exportJWK(pair.publicKey));
  const logFile = path.join(dir, 'daemon.log');
  const env = {
    ...process.env,
    JITBROKER_DATA_DIR: dataDir,
    JITBROKER_PORT: '0',
    JITBROKER_ROTATION_WORKER_SECONDS: '1',
    JITBROKER_ROTATION_SCAN_SECONDS: '1',
    // A whole fleet's agents and the reveal probe come from one loopback address: the abuse limits (bench:abuse) would answer 429.
    JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '100000000',
    JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '100000000',
    JITBROKER_HTTP_RATE_LIMITS_AUTH_FAILURES_PER_ADDRESS: '100000000',
  };
  const stallsFile = path.join(dir, 'stalls.json');
  const { url, proc: daemon } = await startServe(
    logFile,
    recordStalls ? { ...env, JITBROKER_BENCH_STALLS_FILE: stallsFile } : env,
    recordStalls ? [...daemonNodeArgs, '--require', path.join(__dirname, 'stall-recorder.js')] : daemonNodeArgs,
  );
  // When the fleet came due; stalls before it (start-up, the probe at rest) are not the rotation's.
  let started = Infinity;
  const revealUrl = `${url}/v1/grants/${grantId}/password`;
  try {
    // A daemon that just started answers its first requests slowly (code not yet compiled, statements
    // not yet prepared); those belong to neither figure, so a warm-up run comes first and is dropped.
    const warmUp = await probe(revealUrl, token, 5);
    await warmUp.done;
    const rest = await probe(revealUrl, token, 10);
    await rest.done;
    console.log(`reveal at rest (100 req/s, 4 connections, 10 s): p50 ${rest.p50.toFixed(2)} ms, p99 ${rest.p99.toFixed(2)} ms, ${rest.requests} requests, non-2xx ${rest.non2xx}`);

    let acked = 0;
    let polls = 0;
    let allPendingAt = 0;
    // Every device due at once: the moment the clock reaches their next due time.
    const db = new BetterSqlite3(path.join(dataDir, 'jitbroker.db'));
    db.pragma('busy_timeout = 10000');
    started = Date.now();
    const mainThreadAtStart = schedStat(daemon.pid as number);
    db.prepare("UPDATE devices SET next_due = ? WHERE id LIKE 'pc-%'").run(new Date(started - 1000).toISOString());
    db.close();
    // Watched from a worker thread: the count scans every version (3 ms at 30k rows), which would block the probe's loop.
    const pendingWatch = watchAllPending(path.join(dataDir, 'jitbroker.db'), (at) => (allPendingAt = at));
    // A reply that waits in this process's event loop is counted as the daemon's latency: how long it waits is printed.
    // Its figures hold the 5 ms between samples, taken off when printed.
    const benchLoopResolutionMs = 5;
    const benchLoop = monitorEventLoopDelay({ resolution: benchLoopResolutionMs });
    benchLoop.enable();
    const during = await probe(revealUrl, token, 900);
    const ids = Array.from({ length: fleetSize }, (_, i) => `pc-${String(i).padStart(6, '0')}`);
    const task = { url, privateJwk: await exportJWK(pair.privateKey), intervalMs: agentIntervalMs };
    if (agentProcesses === 0) {
      const counts: AgentsReport = { polls: 0, acked: 0 };
      await runAgents({ ...task, ids }, counts);
      ({ polls, acked } = counts);
    } else {
      const shares = Array.from({ length: agentProcesses }, (_, p) => ids.filter((_id, i) => i % agentProcesses === p));
      const finals = await Promise.all(shares.map((share) => agentPool({ ...task, ids: share })));
      polls = finals.reduce((n, r) => n + r.polls, 0);
      acked = finals.reduce((n, r) => n + r.acked, 0);
    }
    await pendingWatch.terminate();
    const seconds = (Date.now() - started) / 1000;
    const mainThread = schedStat(daemon.pid as number);
    during.stop();
    await during.done;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    // A series the daemon always writes reads NaN when missing, so a renamed one shows; counts of what may not have happened read 0.
    const value = (name: string, labels = '', absent = NaN) => metricValue(metrics, name, labels) ?? absent;
    const longest = value('jitbroker_store_transaction_longest_seconds');
    const txCount = value('jitbroker_store_transaction_seconds_count');
    const unitsSum = value('jitbroker_store_transaction_units_sum');
    const lagMax = value('jitbroker_nodejs_eventloop_lag_max_seconds');
    const lagP99 = value('jitbroker_nodejs_eventloop_lag_p99_seconds');
    console.log(
      `fleet of ${fleetSize} due at once, agents polling every ${agentIntervalMs / 1000} s: a pending password for every device after ${allPendingAt ? ((allPendingAt - started) / 1000).toFixed(1) : '?'} s; ` +
        `every device current again after ${seconds.toFixed(1)} s, ${(acked / seconds).toFixed(0)} rotations/s completed (${polls} agent polls)`,
    );
    console.log(
      `daemon peak RSS ${peakRssMiB(daemon.pid as number).toFixed(0)} MiB; longest transaction ${(longest * 1000).toFixed(1)} ms (target ≤ 25 ms); ${txCount} transactions, ${(unitsSum / txCount).toFixed(1)} units each on average`,
    );
    // Node's event-loop delay histogram holds whole timer intervals: prom-client samples every 10 ms
    // (its default eventLoopMonitoringPrecision), so a loop that is never late reads 10 ms. Printed is how late it ran.
    console.log(`daemon event loop late over the run: p99 ${(lagP99 * 1000 - 10).toFixed(1)} ms, max ${(lagMax * 1000 - 10).toFixed(1)} ms`);
    // prom-client's GC histogram, by kind, over the daemon's life (start-up and the probe at rest included).
    const gc = (kind: string, series: 'count' | 'sum') => value(`jitbroker_nodejs_gc_duration_seconds_${series}`, `{kind="${kind}"}`, 0);
    const gcOver10ms = (kind: string) => gc(kind, 'count') - value('jitbroker_nodejs_gc_duration_seconds_bucket', `{le="0.01",kind="${kind}"}`, 0);
    // store.checkpoint worker: how long its checkpoints held the commits back.
    const checkpointCount = value('jitbroker_store_checkpoint_seconds_count', '', 0);
    const checkpointsOver = (le: string) => checkpointCount - value('jitbroker_store_checkpoint_seconds_bucket', `{le="${le}"}`, 0);
    if (checkpointCount > 0) {
      console.log(
        `worker checkpoints over the daemon's life: ${checkpointCount}, ${((value('jitbroker_store_checkpoint_seconds_sum', '', 0) / checkpointCount) * 1000).toFixed(1)} ms on average; ` +
          `${checkpointsOver('0.01')} over 10 ms, ${checkpointsOver('0.025')} over 25 ms (commits wait meanwhile; the event loop does not)`,
      );
    }
    const heapUsed = value('jitbroker_nodejs_heap_size_used_bytes');
    console.log(
      `daemon GC over its life: ${['minor', 'major', 'incremental', 'weakcb']
        .map((k) => `${k} ${gc(k, 'count')} (${(gc(k, 'sum') * 1000).toFixed(0)} ms, ${gcOver10ms(k)} over 10 ms)`)
        .join(', ')}; heap in use at the end ${(heapUsed / 2 ** 20).toFixed(0)} MiB`,
    );
    console.log(
      `daemon main thread while rotating (${seconds.toFixed(1)} s): on a CPU ${(mainThread.onCpuSeconds - mainThreadAtStart.onCpuSeconds).toFixed(1)} s, ` +
        `ready but waiting for a CPU ${(mainThread.waitingSeconds - mainThreadAtStart.waitingSeconds).toFixed(1)} s; simulated agents at nice ${agentProcesses === 0 ? '0 (in this process)' : agentNice}`,
    );
    benchLoop.disable();
    console.log(`reveal while rotating (100 req/s): p50 ${during.p50.toFixed(2)} ms, p99 ${during.p99.toFixed(2)} ms, ${during.requests} requests, non-2xx ${during.non2xx}`);
    console.log(
      `the probe's own event loop (${agentProcesses === 0 ? `shared with the ${fleetSize} simulated agents` : 'the agents run in child processes'}) while rotating: late p50 ${(benchLoop.percentile(50) / 1e6 - benchLoopResolutionMs).toFixed(1)} ms, p99 ${(benchLoop.percentile(99) / 1e6 - benchLoopResolutionMs).toFixed(1)} ms, max ${(benchLoop.max / 1e6 - benchLoopResolutionMs).toFixed(1)} ms`,
    );
    console.log(`reveal p99 rotating / at rest: ${(during.p99 / rest.p99).toFixed(2)}× (target ≤ 1.5×)`);
    const slow = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('slow store transaction'))
      .map((l) => JSON.parse(l) as { ms: number; commitMs: number; units: number; checkpointed?: boolean })
      .sort((a, b) => b.ms - a.ms);
    // Where a slow transaction spent its time: its units' work, or the COMMIT (fsync, SQLite's automatic checkpoint).
    const inCommit = slow.filter((t) => t.commitMs * 2 >= t.ms).length;
    console.log(
      `transactions over 25 ms: ${slow.length}, ${inCommit} of them mostly in the COMMIT, ${slow.filter((t) => t.checkpointed).length} whose COMMIT ran a WAL checkpoint` +
        (slow.length
          ? `; longest: ${slow
              .slice(0, 5)
              .map((t) => `${t.ms} ms (commit ${t.commitMs} ms${t.checkpointed ? ', checkpoint' : ''})/${t.units} units`)
              .join(', ')}`
          : ''),
    );
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    if (recordStalls && fs.existsSync(stallsFile)) printStalls((JSON.parse(fs.readFileSync(stallsFile, 'utf8')) as Stall[]).filter((s) => s.at >= started));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A thread's time on a CPU and its time ready to run but waiting for one (Linux schedstat, ns): the
 * second is how much of the daemon's event-loop time the other processes on the machine took.
 */
function schedStat(pid: number): { onCpuSeconds: number; waitingSeconds: number } {
  const [onCpu, waiting] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { onCpuSeconds: (onCpu ?? 0) / 1e9, waitingSeconds: (waiting ?? 0) / 1e9 };
}

/** What filled the daemon's event-loop stalls over 25 ms while the fleet rotated (BENCH_STALLS=1). */
function printStalls(stalls: Stall[]): void {
  const mean = (k: keyof Stall) => (stalls.reduce((n, s) => n + s[k], 0) / Math.max(1, stalls.length)).toFixed(1);
  console.log(
    `daemon event-loop stalls over 25 ms while rotating: ${stalls.length}, ${mean('gapMs')} ms on average, each holding on average ` +
      `${mean('requests')} new requests, ${mean('commits')} COMMITs (${mean('commitMs')} ms), ${mean('statements')} other statements (${mean('statementMs')} ms) and ${mean('gcMs')} ms of GC; the rest is JavaScript`,
  );
  for (const s of [...stalls].sort((a, b) => b.gapMs - a.gapMs).slice(0, 5)) {
    console.log(
      `  ${s.gapMs.toFixed(1)} ms: ${s.requests} requests, ${s.commits} COMMITs (${s.commitMs.toFixed(1)} ms), ${s.statements} statements (${s.statementMs.toFixed(1)} ms), GC ${s.gcMs.toFixed(1)} ms`,
    );
  }
}

/** One scheduler tick at a fleet size, 100 devices due: the tick as shipped, and a full scan of the same fleet for comparison. */
async function tickCost(devices: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-tick-'));
  const config = loadConfig({ env: { JITBROKER_DATA_DIR: dir } });
  const infra = await openInfra(config, { env: {}, logger: pino({ level: 'silent' }) });
  const s = await createServices(config, infra);
  const raw = new BetterSqlite3(path.join(dir, 'jitbroker.db'));
  const future = new Date(Date.now() + 86400000).toISOString();
  const insert = raw.prepare(
    "INSERT INTO devices (id, display_name, groups, account, agent_key, status, created_at, retired_at, last_rotated_at, next_due, rotation_failures, rotation_error) VALUES (?, ?, '[\"fleet\"]', 'localadmin', '{}', 'active', ?, NULL, ?, ?, 0, NULL)",
  );
  const now = new Date().toISOString();
  raw.transaction(() => {
    for (let i = 0; i < devices; i++) insert.run(`d-${i}`, `d-${i}`, now, now, future);
  })();
  raw.exec('ANALYZE');
  const ticks: number[] = [];
  const scans: number[] = [];
  const finds: number[] = [];
  const scan = raw.prepare("SELECT id FROM devices NOT INDEXED WHERE next_due <= ? AND status = 'active' ORDER BY next_due LIMIT 1000");
  // The tick's own query (the next_due index), timed on its own.
  const find = raw.prepare("SELECT id FROM devices WHERE next_due <= ? AND status = 'active' ORDER BY next_due LIMIT 1000");
  for (let round = 0; round < 7; round++) {
    raw.prepare('UPDATE devices SET next_due = ? WHERE id IN (SELECT id FROM devices ORDER BY random() LIMIT 100)').run(new Date(Date.now() - 1000).toISOString());
    raw.exec("UPDATE rotation_jobs SET state = 'done' WHERE state = 'open'");
    const t0 = process.hrtime.bigint();
    scan.all(new Date().toISOString());
    scans.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const tf = process.hrtime.bigint();
    find.all(new Date().toISOString());
    finds.push(Number(process.hrtime.bigint() - tf) / 1e6);
    const t1 = process.hrtime.bigint();
    const n = await s.rotations.enqueueDueRotations();
    ticks.push(Number(process.hrtime.bigint() - t1) / 1e6);
    if (n !== 100) throw new Error(`expected 100 due, the tick queued ${n}`);
  }
  raw.close();
  await infra.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `scheduler tick, ${devices.toLocaleString('en')} devices, 100 due: finding them by the next_due index ${pct(finds, 50).toFixed(3)} ms, ` +
      `by a full scan (baseline) ${pct(scans, 50).toFixed(2)} ms; the whole tick (find, then queue 100 jobs) ${pct(ticks, 50).toFixed(2)} ms (medians of 7)`,
  );
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  if (process.env.BENCH_SKIP_FLEET !== '1') await fleetRotation();
  // The tick's cost must not grow with the fleet: the same 100 due devices among 10k and 100k.
  await tickCost(10000);
  await tickCost(100000);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
