/**
 * npm run bench:scale — reveal throughput and p99 with 1, 2 and 3 daemons on one PostgreSQL
 * (durable: fsync on), against one daemon on SQLite, in the same run. The load is split evenly over
 * the daemons (one autocannon per daemon, as a round-robin balancer would); every reveal is a
 * durable audited write. CPU time of the daemons, of PostgreSQL and of the load generator is
 * measured per run, to say where the time goes.
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startPostgres } from '../test/support/postgres';
import { api, runCli, startServe, stop } from './daemon-process';
import { machine } from './machine';
import { metricValue } from './metrics-text';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 12);
// /proc counts CPU time in clock ticks.
const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch {
    return 0;
  }
}

/** Every PostgreSQL server process (the postmaster and its backends). */
function postgresPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
      } catch {
        return false;
      }
    });
}

const limits = {
  JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '100000000',
  JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '100000000',
  JITBROKER_HTTP_RATE_LIMITS_GRANT_REQUESTS_PER_PRINCIPAL: '100000000',
};

interface Run {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  bad: number;
  cpu: { daemons: number; postgres: number; load: number; wall: number };
  appendMs: number;
}

async function metric(url: string, name: string): Promise<number> {
  return metricValue(await (await fetch(`${url}/metrics`)).text(), name) ?? 0;
}

/** Starts `n` daemons with `env` on one store, sets up a device, a policy and a grant, drives reveals through all of them. */
async function measure(name: string, dir: string, n: number, storeEnv: Record<string, string>, tag: string): Promise<Run> {
  const dataDir = path.join(dir, 'data');
  const env = { ...process.env, JITBROKER_DATA_DIR: dataDir, JITBROKER_PORT: '0', ...limits, ...storeEnv };
  const procs: ChildProcess[] = [];
  const urls: string[] = [];
  try {
    // One after another: the first creates the shared keys in the data dir that the others read.
    for (let i = 0; i < n; i++) {
      const d = await startServe(path.join(dir, `daemon-${tag}-${i}.log`), env);
      procs.push(d.proc);
      urls.push(d.url);
    }
    const [first] = urls as [string];
    const admin = await runCli(['token', '--sub', 'bench-admin', '--roles', 'admin,auditor'], env);
    const alice = await runCli(['token', '--sub', `alice-${tag}`, '--roles', 'requester', '--groups', 'helpdesk', '--ttl', '2h'], env);
    const device = `laptop-${tag}`;
    const keyFile = path.join(dir, `${device}.key`);
    const jwk = await runCli(['agent', 'keygen', '--key', keyFile], env);
    await api(first, admin, 'POST', '/v1/devices', { id: device, groups: [`fleet-${tag}`], agentKey: JSON.parse(jwk) });
    await api(first, admin, 'POST', '/v1/policies', { name: `bench-${tag}`, principals: { groups: ['helpdesk'] }, deviceGroups: [`fleet-${tag}`], maxDuration: 'PT4H' });
    await runCli(['agent', 'run', '--url', first, '--device-id', device, '--key', keyFile, '--setter', 'file', '--file', path.join(dir, `${device}.pw`), '--once'], env);
    const grant = await api(first, alice, 'POST', '/v1/grants', { deviceId: device, reason: 'bench', duration: 'PT2H' });
    const route = `/v1/grants/${grant.id as string}/password`;
    const drive = (duration: number) =>
      Promise.all(urls.map((u) => autocannon({ url: u + route, connections: Math.max(1, Math.round(connections / n)), duration, headers: { authorization: `Bearer ${alice}` } })));
    await drive(2); // warm-up, not counted
    const pg = postgresPids();
    const before = { daemons: procs.reduce((s, p) => s + cpuSeconds(p.pid as number), 0), postgres: pg.reduce((s, p) => s + cpuSeconds(p), 0), load: process.cpuUsage() };
    const appendsBefore = await Promise.all(
      urls.map(async (u) => [await metric(u, 'jitbroker_audit_append_seconds_sum'), await metric(u, 'jitbroker_audit_append_seconds_count')]),
    );
    const t0 = Date.now();
    const results = await drive(seconds);
    const wall = (Date.now() - t0) / 1000;
    const load = process.cpuUsage(before.load);
    const appendsAfter = await Promise.all(urls.map(async (u) => [await metric(u, 'jitbroker_audit_append_seconds_sum'), await metric(u, 'jitbroker_audit_append_seconds_count')]));
    const appendSum = appendsAfter.reduce((s, a, i) => s + (a[0] as number) - ((appendsBefore[i] as number[])[0] as number), 0);
    const appendCount = appendsAfter.reduce((s, a, i) => s + (a[1] as number) - ((appendsBefore[i] as number[])[1] as number), 0);
    return {
      name,
      rps: results.reduce((s, r) => s + r.requests.average, 0),
      p50: Math.max(...results.map((r) => r.latency.p50)),
      p99: Math.max(...results.map((r) => r.latency.p99)),
      bad: results.reduce((s, r) => s + r.non2xx + r.errors, 0),
      cpu: {
        daemons: procs.reduce((s, p) => s + cpuSeconds(p.pid as number), 0) - before.daemons,
        postgres: postgresPids().reduce((s, p) => s + cpuSeconds(p), 0) - before.postgres,
        load: (load.user + load.system) / 1e6,
        wall,
      },
      appendMs: appendCount ? (appendSum / appendCount) * 1000 : 0,
    };
  } finally {
    for (const p of procs) await stop(p);
  }
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}, ${os.cpus().length} cores shared by the daemons, PostgreSQL and the load generator`);
  console.log(`load: autocannon, ${connections} connections in all, split evenly over the daemons, ${seconds} s per configuration; every reveal is an audited, durable write`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-scale-'));
  const pg = await startPostgres({ durable: true, database: 'jitbroker_bench' });
  console.log('postgresql: 15, fsync on, full_page_writes on, synchronous_commit on (as SQLite runs with synchronous=FULL)');
  const runs: Run[] = [];
  try {
    await runCli(['migrate', '--store', pg.url], { ...process.env });
    const sqliteDir = path.join(dir, 'sqlite');
    fs.mkdirSync(sqliteDir);
    runs.push(await measure('1 daemon, SQLite', sqliteDir, 1, {}, 's1'));
    const pgDir = path.join(dir, 'pg');
    fs.mkdirSync(pgDir);
    const pgEnv = { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: pg.url };
    // As shipped: units batched per commit (store.postgresCommit group), one chain lock per batch.
    for (const n of [1, 2, 3]) runs.push(await measure(`${n} daemon${n > 1 ? 's' : ''}, PostgreSQL`, pgDir, n, pgEnv, `p${n}`));
    // For comparison: a transaction, a chain lock and a commit per unit.
    for (const n of [1, 3]) {
      runs.push(await measure(`${n} daemon${n > 1 ? 's' : ''}, PG per-unit tx`, pgDir, n, { ...pgEnv, JITBROKER_STORE_POSTGRES_COMMIT: 'unit' }, `u${n}`));
    }
    const verify = await runCli(['store', 'verify', '--store', pg.url, '--json'], { ...process.env });
    console.log(`audit chain on PostgreSQL after every run: ${verify.replace(/\s+/g, ' ')}`);
  } finally {
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const base = runs[0] as Run;
  console.log('');
  console.log('configuration              req/s   p50 ms  p99 ms  non-2xx   vs SQLite   CPU s per s: daemons  postgres  load   audit append ms');
  for (const r of runs) {
    const per = (x: number) => (x / r.cpu.wall).toFixed(2).padStart(5);
    console.log(
      `${r.name.padEnd(24)} ${r.rps.toFixed(0).padStart(7)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(7)} ${String(r.bad).padStart(8)}   ` +
        `${(r.rps / base.rps).toFixed(2).padStart(5)}×       ${per(r.cpu.daemons)}         ${per(r.cpu.postgres)}  ${per(r.cpu.load)}   ${r.appendMs.toFixed(2)}`,
    );
  }
  const busiest = runs.map((r) => r.cpu.daemons / r.cpu.wall + r.cpu.postgres / r.cpu.wall + r.cpu.load / r.cpu.wall);
  console.log(`CPU in use (daemons + postgres + load) of ${os.cpus().length} cores: ${busiest.map((b) => b.toFixed(2)).join(', ')}`);
  if (runs.some((r) => r.bad > 0)) {
    console.error('INVALID RUN: some answers were not 2xx');
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
