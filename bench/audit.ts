/**
 * npm run bench:audit — a chain of 1,000,000 events: filtered page queries (p50/p99 per shape),
 * a full export (events/s, peak RSS), a full verify against a plain walk over the same rows, and
 * the same at 100,000 events to show memory stays flat. Each measurement runs in a fresh process.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { canonicalJson, genesisHash, sha256Hex } from '../src/audit/audit-event';
import { exportLines } from '../src/audit/audit-export';
import { createAuditLog } from '../src/audit/audit-log';
import { actorColumn } from '../src/audit/audit-chain';
import { migrate, openSqlite } from '../src/store/database';
import { systemClock } from '../src/time/clock';
import { machine } from './machine';
import { pct } from './percentile';
import { timeOrderedId } from '../src/store/ids';

const actions = [
  'grant.requested',
  'grant.activated',
  'grant.password-revealed',
  'grant.revoked',
  'grant.expired',
  'credential.fetched',
  'credential.acknowledged',
  'authorization.failed',
];
const start = Date.parse('2026-01-01T00:00:00Z');

/** Writes `n` chained events as the daemon would, in big transactions (seeding, not the append path). */
async function seed(file: string, n: number): Promise<void> {
  const { db } = openSqlite(file);
  await migrate(db);
  await db.destroy();
  const raw = new BetterSqlite3(file);
  raw.pragma('synchronous = OFF');
  const insert = raw.prepare(
    'INSERT INTO audit_events (seq, at, actor, action, outcome, device_id, target, request_id, canonical, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
  );
  let prev = genesisHash;
  const batch = raw.transaction((from: number, to: number) => {
    for (let seq = from; seq <= to; seq++) {
      const action = actions[seq % actions.length] as string;
      const event = {
        actor: { kind: 'user' as const, subject: `user-${seq % 500}`, name: `User ${seq % 500}` },
        action,
        outcome: action === 'authorization.failed' ? ('denied' as const) : ('success' as const),
        deviceId: `pc-${String(seq % 20000).padStart(5, '0')}`,
        target: `grant:${crypto.randomUUID()}`,
        context: { requestId: timeOrderedId(), clientAddress: '10.0.0.7', userAgent: 'jitbroker-cli' },
        seq,
        at: new Date(start + seq * 1000).toISOString(),
        prevHash: prev,
      };
      const canonical = canonicalJson(event);
      const hash = sha256Hex(canonical);
      insert.run(seq, event.at, actorColumn(event), action, event.outcome, event.deviceId, event.target, event.context.requestId, canonical, prev, hash);
      prev = hash;
    }
  });
  for (let i = 1; i <= n; i += 10000) batch(i, Math.min(n, i + 9999));
  raw.exec('ANALYZE');
  raw.close();
}

function openAudit(file: string) {
  // As the daemon opens its store (its pragmas and its prepared-statement cache), so the figures are the daemon's.
  const { db, sqlite } = openSqlite(file);
  return { sqlite, db, audit: createAuditLog({ db, clock: systemClock }) };
}

async function queries(file: string, n: number): Promise<void> {
  const { db, audit, sqlite } = openAudit(file);
  const sample = sqlite.prepare('SELECT actor, device_id, request_id, at FROM audit_events WHERE seq = ?');
  const pick = () => sample.get(1 + Math.floor(Math.random() * n)) as { actor: string; device_id: string; request_id: string; at: string };
  const shapes: Record<string, () => Parameters<typeof audit.queryJson>[0]> = {
    'by device': () => ({ deviceId: pick().device_id, limit: 50 }),
    'by actor': () => ({ actor: pick().actor, limit: 50 }),
    'by action': () => ({ action: 'grant.password-revealed', limit: 50 }),
    'by outcome (denied)': () => ({ outcome: 'denied', limit: 50 }),
    'by request id': () => ({ requestId: pick().request_id, limit: 50 }),
    'time range (1 h)': () => {
      const at = pick().at;
      return { from: at, to: new Date(Date.parse(at) + 3600000).toISOString(), limit: 50 };
    },
    'device within a time range': () => {
      const e = pick();
      return { deviceId: e.device_id, from: new Date(Date.parse(e.at) - 86400000 * 30).toISOString(), to: e.at, limit: 50 };
    },
    'next page by cursor': () => ({ afterSeq: Math.floor(Math.random() * (n - 100)), limit: 50 }),
  };
  for (const [name, make] of Object.entries(shapes)) {
    const times: number[] = [];
    for (let i = 0; i < 300; i++) {
      const q = make();
      const t = process.hrtime.bigint();
      await audit.queryJson(q);
      if (i >= 20) times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    console.log(`  page query ${name.padEnd(28)} p50 ${pct(times, 50).toFixed(3)} ms  p99 ${pct(times, 99).toFixed(3)} ms`);
  }
  await db.destroy();
}

async function exportAll(file: string): Promise<void> {
  const { db, audit } = openAudit(file);
  const out = fs.createWriteStream('/dev/null');
  const t = process.hrtime.bigint();
  let events = 0;
  for await (const line of exportLines(audit.links(), 'jsonl')) {
    events += 1;
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await db.destroy();
  report({ events, seconds: s });
}

async function verifyAll(file: string): Promise<void> {
  const { db, audit } = openAudit(file);
  const t = process.hrtime.bigint();
  const r = await audit.verify();
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await db.destroy();
  if (!r.ok) throw new Error(`verify failed: ${JSON.stringify(r)}`);
  report({ events: r.events, seconds: s });
}

/** The baseline: the same rows, the same pages, touched and nothing checked. */
async function iterateAll(file: string): Promise<void> {
  const { db, audit } = openAudit(file);
  const t = process.hrtime.bigint();
  let events = 0;
  let bytes = 0;
  for await (const link of audit.links()) {
    events += 1;
    bytes += link.canonical.length;
  }
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await db.destroy();
  report({ events, seconds: s, bytes });
}

function report(r: Record<string, number>): void {
  process.stdout.write(JSON.stringify({ ...r, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

function child(mode: string, file: string): { events: number; seconds: number; maxRssMiB: number } {
  const r = spawnSync(process.execPath, [__filename, mode, file], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${mode}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { events: number; seconds: number; maxRssMiB: number };
}

async function main(): Promise<void> {
  const [mode, file, n] = process.argv.slice(2);
  if (mode === 'seed') return seed(file as string, Number(n));
  if (mode === 'export') return exportAll(file as string);
  if (mode === 'verify') return verifyAll(file as string);
  if (mode === 'iterate') return iterateAll(file as string);
  if (mode === 'queries') return queries(file as string, Number(n));

  console.log(`machine: ${machine()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-audit-'));
  try {
    for (const size of [100000, 1000000]) {
      const f = path.join(dir, `audit-${size}.db`);
      const t = Date.now();
      const s = spawnSync(process.execPath, [__filename, 'seed', f, String(size)], { stdio: 'inherit' });
      if (s.status !== 0) throw new Error('seed failed');
      console.log(`${size.toLocaleString('en')} events seeded in ${((Date.now() - t) / 1000).toFixed(1)} s (${(fs.statSync(f).size / 2 ** 20).toFixed(0)} MiB)`);
      if (size === 1000000) {
        const q = spawnSync(process.execPath, [__filename, 'queries', f, String(size)], { encoding: 'utf8' });
        if (q.status !== 0) throw new Error(q.stderr);
        process.stdout.write(q.stdout);
      }
      const it = child('iterate', f);
      const ex = child('export', f);
      const ve = child('verify', f);
      const rate = (r: { events: number; seconds: number }) => `${Math.round(r.events / r.seconds).toLocaleString('en')} events/s`;
      console.log(`  plain walk over the rows (baseline): ${rate(it)}, peak RSS ${it.maxRssMiB.toFixed(0)} MiB`);
      console.log(`  export (JSONL):                     ${rate(ex)}, peak RSS ${ex.maxRssMiB.toFixed(0)} MiB`);
      console.log(
        `  verify:                             ${rate(ve)}, peak RSS ${ve.maxRssMiB.toFixed(0)} MiB — ${(it.seconds / ve.seconds).toFixed(2)}× the plain walk (target ≥ 0.5×)`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
