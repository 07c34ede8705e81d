/**
 * npm run bench:abuse [-- --seconds 60] — the real daemon under load and abuse at once.
 *
 * Starts `jitbroker serve` on loopback with a temp data dir and a small per-principal reveal limit,
 * enrols devices whose agent sets their first password, gives every requester a grant, measures
 * reveal-only throughput for 10 s (the baseline), then drives a mix for --seconds: reveals by
 * requesters under the limit, reveals by requesters far over it, invalid tokens (garbage, expired,
 * wrong signature) and malformed grant requests (broken JSON, wrong types). Afterwards it checks that
 * every 200 reveal is audited exactly once, the audit chain verifies, no password shows up in a log
 * line or in any other response, bad input changed nothing, and the daemon's memory stayed flat.
 * Exits 1 when a check fails.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import BetterSqlite3 from 'better-sqlite3';
import { createLocalIdentity } from '../src/identity/local/local-identity';
import { api, cli, root, runCli, stop, waitInFile } from './daemon-process';
import { cleanEnv } from '../test/support/daemon-process';
import { machine } from './machine';
import { metricValue } from './metrics-text';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const raw = at >= 0 ? process.argv[at + 1] : process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} takes a positive whole number, not '${raw}'`);
  return n;
}

const seconds = option('seconds', 60);
const baselineSeconds = Math.min(10, seconds);
const connections = option('connections', 10);
/** Requesters who stay under the reveal limit, and requesters who go far over it. */
const underLimit = option('requesters', 500);
const overLimit = option('over-limit', 4);
const deviceCount = 4;
const windowSeconds = 10;
const revealLimit = 100;
const sampleSeconds = 3;
/**
 * Entries in the mix autocannon cycles through: one reveal per requester under the limit, and per
 * kind of abuse this many. With 500 requesters and a limit of 100 per 10 s, a requester under it
 * stays under up to ~5,000 req/s of reveals, and each heavy one (6% of the mix) goes over above ~170 req/s.
 */
const perHeavy = 60;
const perBadKind = 50;

type Kind = 'reveal' | 'over-limit reveal' | 'token: garbage' | 'token: expired' | 'token: wrong signature' | 'body: broken JSON' | 'body: wrong types';
const kinds: readonly Kind[] = ['reveal', 'over-limit reveal', 'token: garbage', 'token: expired', 'token: wrong signature', 'body: broken JSON', 'body: wrong types'];
/** What each kind must get: a reveal 200 (or 429 over the limit), an invalid token 401, a bad body 400. */
const expected: Record<Kind, readonly number[]> = {
  reveal: [200],
  'over-limit reveal': [200, 429],
  'token: garbage': [401],
  'token: expired': [401],
  'token: wrong signature': [401],
  'body: broken JSON': [400],
  'body: wrong types': [400],
};

// ---- small figures ----------------------------------------------------------------------------

/** A seeded shuffle, so every run drives the same order. */
function shuffled<T>(items: readonly T[], seed = 20240607): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const header = (headers: Record<string, unknown>, name: string) => {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : headers[key];
  return Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
};

// ---- the run ----------------------------------------------------------------------------------

interface Grant {
  id: string;
  token: string;
  deviceId: string;
}

interface Tally {
  byKind: Map<Kind, Map<number, number>>;
  /** X-Request-Id of every 200 reveal, in the order seen. */
  revealIds: string[];
  /** X-Request-Id of every 401. */
  refusedIds: string[];
  revealed: Set<string>;
  /** A 200 reveal whose password is not the one its device's agent set. */
  wrongPassword: number;
  missingNoStore: number;
  /** Responses other than a 200 reveal that carry a known password. */
  leaks: string[];
  nonRevealBodies: number;
}

function newTally(): Tally {
  return {
    byKind: new Map(kinds.map((k) => [k, new Map()])),
    revealIds: [],
    refusedIds: [],
    revealed: new Set(),
    wrongPassword: 0,
    missingNoStore: 0,
    leaks: [],
    nonRevealBodies: 0,
  };
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-abuse-'));
  const dataDir = path.join(dir, 'data');
  const env = cleanEnv({
    JITBROKER_DATA_DIR: dataDir,
    JITBROKER_PORT: '0',
    JITBROKER_HTTP_RATE_LIMITS_WINDOW_SECONDS: String(windowSeconds),
    JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: String(revealLimit),
    JITBROKER_HTTP_RATE_LIMITS_GRANT_REQUESTS_PER_PRINCIPAL: '1000',
    // Every client here is 127.0.0.1: a per-address limit would refuse all of it, valid or not.
    JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '1000000000',
    JITBROKER_HTTP_RATE_LIMITS_AUTH_FAILURES_PER_ADDRESS: '1000000000',
  });
  console.log(
    `daemon: jitbroker serve as shipped (log level info, to a file), reveal limit ${revealLimit} per principal per ${windowSeconds} s window; ` +
      'per-address limits raised (all load comes from one loopback address)',
  );
  console.log(
    `load: autocannon, ${connections} connections; baseline ${baselineSeconds} s of reveals only, then ${seconds} s of the abuse mix; ` +
      `${underLimit} requesters under the limit, ${overLimit} over it, ${deviceCount} devices`,
  );

  const logFile = path.join(dir, 'daemon.log');
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(process.execPath, [cli, 'serve'], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let stopped = false;
  try {
    const url = (await waitInFile(logFile, /"url":"(http[^"]+)"[^\n]*"msg":"jitbroker listening"/, proc))[1] as string;

    // ---- setup: devices with an agent-set password, a designation, a grant per requester ----
    const setupStart = Date.now();
    const admin = await runCli(['token', '--sub', 'bench-admin', '--roles', 'admin,auditor', '--ttl', '2h'], env);
    await api(url, admin, 'POST', '/v1/policies', { name: 'bench', principals: { groups: ['helpdesk'] }, deviceGroups: ['fleet'], maxDuration: 'PT4H' });
    const devicePasswords = new Map<string, string>();
    for (let d = 1; d <= deviceCount; d++) {
      const id = `laptop-${d}`;
      const keyFile = path.join(dir, `${id}.key`);
      const jwk = await runCli(['agent', 'keygen', '--key', keyFile], env);
      await api(url, admin, 'POST', '/v1/devices', { id, groups: ['fleet'], agentKey: JSON.parse(jwk) });
      const pwFile = path.join(dir, `${id}.password`);
      await runCli(['agent', 'run', '--url', url, '--device-id', id, '--key', keyFile, '--setter', 'file', '--file', pwFile, '--once'], env);
      devicePasswords.set(id, fs.readFileSync(pwFile, 'utf8').replace(/\r?\n$/, ''));
    }
    const { issuer, audience } = (JSON.parse(fs.readFileSync(path.join(root, 'config', 'default.json'), 'utf8')) as { identity: { local: { issuer: string; audience: string } } })
      .identity.local;
    // Tokens signed with the daemon's own local identity key (what `jitbroker token` does), a second
    // key the daemon does not trust, and the daemon's key two hours ago.
    const identity = await createLocalIdentity({ dataDir, issuer, audience, clockSkewSeconds: 60, clock: { now: () => new Date() } });
    const stranger = await createLocalIdentity({ dataDir: fs.mkdtempSync(path.join(dir, 'stranger-')), issuer, audience, clockSkewSeconds: 60, clock: { now: () => new Date() } });
    const past = await createLocalIdentity({ dataDir, issuer, audience, clockSkewSeconds: 60, clock: { now: () => new Date(Date.now() - 2 * 3600 * 1000) } });
    const requesterToken = (sub: string) => identity.issueToken({ sub, roles: ['requester'], groups: ['helpdesk'], ttlSeconds: 2 * 3600 });
    const grantFor = async (sub: string, i: number): Promise<Grant> => {
      const token = await requesterToken(sub);
      const deviceId = `laptop-${(i % deviceCount) + 1}`;
      const g = await api(url, token, 'POST', '/v1/grants', { deviceId, reason: 'bench', duration: 'PT2H' });
      if (g.state !== 'active') throw new Error(`grant for ${sub} is ${String(g.state)}`);
      return { id: g.id as string, token, deviceId };
    };
    const under: Grant[] = [];
    for (let i = 0; i < underLimit; i++) under.push(await grantFor(`requester-${String(i + 1).padStart(3, '0')}`, i));
    const over: Grant[] = [];
    for (let i = 0; i < overLimit; i++) over.push(await grantFor(`heavy-${i + 1}`, i));
    const grantsAfterSetup = under.length + over.length;
    const garbage = ['not-a-jwt', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA', 'Zm9v.YmFy.YmF6', '...'];
    const expiredToken = await past.issueToken({ sub: 'requester-001', roles: ['requester'], groups: ['helpdesk'], ttlSeconds: 600 });
    const strangerToken = await stranger.issueToken({ sub: 'requester-001', roles: ['requester'], groups: ['helpdesk'], ttlSeconds: 3600 });
    const grantDevice = new Map([...under, ...over].map((g) => [g.id, g.deviceId]));
    console.log(`setup: ${deviceCount} devices enrolled and set by their agent, ${grantsAfterSetup} active grants, in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);

    // Known before any load: the passwords the agents set. A reveal must return one of these and nothing else may hold one.
    const needles = [...devicePasswords.values()].flatMap((pw) => [pw, JSON.stringify(pw).slice(1, -1)]);

    // ---- requests, each one noting what came back ----
    function request(kind: Kind, tally: () => Tally, r: { method: 'GET' | 'POST'; path: string; token: string; body?: string }): autocannon.Request {
      const isReveal = kind === 'reveal' || kind === 'over-limit reveal';
      return {
        method: r.method,
        path: r.path,
        headers: { authorization: `Bearer ${r.token}`, ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(r.body !== undefined ? { body: r.body } : {}),
        onResponse: (status: number, body: string, _context: object, received: NodeJS.Dict<string | string[]> = {}) => {
          const headers = received as Record<string, unknown>;
          const t = tally();
          const byStatus = t.byKind.get(kind) as Map<number, number>;
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          if (isReveal && status === 200) {
            t.revealIds.push(header(headers, 'x-request-id') ?? '');
            const password = (JSON.parse(body) as { password: string }).password;
            t.revealed.add(password);
            if (password !== devicePasswords.get(grantDevice.get(r.path.split('/')[3] as string) as string)) t.wrongPassword++;
            if (header(headers, 'cache-control') !== 'no-store') t.missingNoStore++;
            return;
          }
          t.nonRevealBodies++;
          if (status === 401) t.refusedIds.push(header(headers, 'x-request-id') ?? '');
          const text = JSON.stringify(headers) + body;
          if (needles.some((n) => text.includes(n))) t.leaks.push(`${kind} ${status}`);
        },
      };
    }
    const reveal = (g: Grant, kind: Kind, t: () => Tally) => request(kind, t, { method: 'GET', path: `/v1/grants/${g.id}/password`, token: g.token });

    // ---- memory, sampled from the daemon's own /metrics throughout ----
    const started = Date.now();
    let phase = 'setup';
    const samples: Array<{ at: number; phase: string; rss: number; heap: number; external: number }> = [];
    const sample = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const rss = metricValue(text, 'jitbroker_process_resident_memory_bytes');
      const heap = metricValue(text, 'jitbroker_nodejs_heap_size_used_bytes');
      const external = metricValue(text, 'jitbroker_nodejs_external_memory_bytes');
      if (rss !== undefined) samples.push({ at: (Date.now() - started) / 1000, phase, rss, heap: heap ?? 0, external: external ?? 0 });
    };
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), sampleSeconds * 1000);

    // ---- baseline: reveals only, requesters under the limit ----
    const baseTally = newTally();
    phase = 'baseline';
    const base = await autocannon({
      url,
      connections,
      duration: baselineSeconds,
      requests: under.map((g) => reveal(g, 'reveal', () => baseTally)),
    });
    // Let every limiter window the baseline opened run out, so the mix starts from a clean slate.
    phase = 'pause';
    await new Promise((r) => setTimeout(r, windowSeconds * 1000));

    // ---- the abuse mix ----
    const mixTally = newTally();
    const mt = () => mixTally;
    const some = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));
    const mix = shuffled([
      ...under.map((g) => reveal(g, 'reveal', mt)),
      ...over.flatMap((g) => some(perHeavy, () => reveal(g, 'over-limit reveal', mt))),
      ...some(perBadKind, (i) =>
        request('token: garbage', mt, { method: 'GET', path: `/v1/grants/${(under[i % under.length] as Grant).id}/password`, token: garbage[i % garbage.length] as string }),
      ),
      ...some(perBadKind, (i) => request('token: expired', mt, { method: 'GET', path: `/v1/grants/${(under[i % under.length] as Grant).id}/password`, token: expiredToken })),
      ...some(perBadKind, (i) =>
        request('token: wrong signature', mt, { method: 'GET', path: `/v1/grants/${(under[i % under.length] as Grant).id}/password`, token: strangerToken }),
      ),
      ...some(perBadKind, (i) =>
        request('body: broken JSON', mt, {
          method: 'POST',
          path: '/v1/grants',
          token: (under[(i * 7) % under.length] as Grant).token,
          body: '{"deviceId": "laptop-1", "reason": ',
        }),
      ),
      ...some(perBadKind, (i) =>
        request('body: wrong types', mt, {
          method: 'POST',
          path: '/v1/grants',
          token: (under[(i * 11) % under.length] as Grant).token,
          body: JSON.stringify(i % 2 ? { deviceId: 42, reason: ['x'], duration: true } : { deviceId: 'laptop-1', reason: 'x', duration: 'PT1H', extra: { nested: 1 } }),
        }),
      ),
    ]);
    phase = 'abuse';
    const abuseStart = (Date.now() - started) / 1000;
    const abuse = await autocannon({ url, connections, duration: seconds, requests: mix });
    const abuseEnd = (Date.now() - started) / 1000;
    phase = 'f';
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    await sample();

    // ---- the daemon's own view, and the chain ----
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const verifyOut = await runCli(['audit', 'verify', '--url', url, '--token', admin, '--json'], env).catch((e: Error) => e.message);
    let verify: { ok?: boolean } = {};
    try {
      verify = JSON.parse(verifyOut) as typeof verify;
    } catch {
      verify = {};
    }
    const exitCode = await stop(proc);
    stopped = true;

    // ---- the audit log, read-only from the stopped daemon's database ----
    const db = new BetterSqlite3(path.join(dataDir, 'jitbroker.db'), { readonly: true, fileMustExist: true });
    const auditedReveals = new Map<string, number>();
    for (const row of db
      .prepare("SELECT request_id AS id, count(*) AS n FROM audit_events WHERE action = 'grant.password-revealed' AND outcome = 'success' GROUP BY request_id")
      .all() as Array<{
      id: string | null;
      n: number;
    }>) {
      auditedReveals.set(row.id ?? '', row.n);
    }
    const auditedRefusals = new Map<string, number>();
    for (const row of db.prepare("SELECT request_id AS id, count(*) AS n FROM audit_events WHERE action = 'auth.failed' GROUP BY request_id").all() as Array<{
      id: string | null;
      n: number;
    }>) {
      auditedRefusals.set(row.id ?? '', row.n);
    }
    const rateLimitedBy = new Map<string, number>();
    for (const row of db.prepare("SELECT actor, count(*) AS n FROM audit_events WHERE action = 'security.rate-limited' GROUP BY actor").all() as Array<{
      actor: string;
      n: number;
    }>) {
      rateLimitedBy.set(row.actor, row.n);
    }
    const countWhere = (where: string) => (db.prepare(`SELECT count(*) AS n FROM audit_events WHERE ${where}`).get() as { n: number }).n;
    const events = countWhere('1 = 1');
    const byAction = (
      db.prepare('SELECT action, outcome, count(*) AS n FROM audit_events GROUP BY action, outcome ORDER BY n DESC').all() as Array<{ action: string; outcome: string; n: number }>
    )
      .map((r) => `${r.action}/${r.outcome} ${r.n}`)
      .join(', ');
    const grantsAfter = (db.prepare('SELECT count(*) AS n FROM grants').get() as { n: number }).n;
    db.close();

    // ---- figures ----
    const statusList = (m: Map<number, number>) =>
      [...m.entries()]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ') || '-';
    const total = (t: Tally, kind?: Kind) => [...t.byKind.entries()].filter(([k]) => !kind || k === kind).reduce((a, [, m]) => a + [...m.values()].reduce((x, y) => x + y, 0), 0);
    const of = (t: Tally, kind: Kind, status: number) => t.byKind.get(kind)?.get(status) ?? 0;

    console.log('');
    console.log(
      `baseline (reveals only, ${baselineSeconds} s): ${base.requests.average.toFixed(0)} req/s, p50 ${base.latency.p50} ms, p99 ${base.latency.p99} ms, ` +
        `200 ${of(baseTally, 'reveal', 200)}, other ${total(baseTally) - of(baseTally, 'reveal', 200)}, errors ${base.errors}, timeouts ${base.timeouts}`,
    );
    const mixReveals200 = of(mixTally, 'reveal', 200) + of(mixTally, 'over-limit reveal', 200);
    console.log(
      `abuse mix (${seconds} s): ${abuse.requests.average.toFixed(0)} req/s, p50 ${abuse.latency.p50} ms, p99 ${abuse.latency.p99} ms, ` +
        `${total(mixTally)} responses, errors ${abuse.errors}, timeouts ${abuse.timeouts}`,
    );
    console.log(`  ${'kind'.padEnd(24)}${'share'.padStart(7)}  ${'responses'.padStart(9)}  statuses`);
    for (const kind of kinds) {
      const entries = kind === 'reveal' ? under.length : kind === 'over-limit reveal' ? perHeavy * overLimit : perBadKind;
      console.log(
        `  ${kind.padEnd(24)}${`${((entries / mix.length) * 100).toFixed(0)}%`.padStart(7)}  ${String(total(mixTally, kind)).padStart(9)}  ${statusList(mixTally.byKind.get(kind) as Map<number, number>)}`,
      );
    }
    const underRevealsPerSecond = of(mixTally, 'reveal', 200) / seconds;
    console.log(
      `compared with the baseline: all requests ${(abuse.requests.average / base.requests.average).toFixed(2)}× its req/s; ` +
        `200 reveals ${(mixReveals200 / seconds).toFixed(0)}/s (${(mixReveals200 / seconds / base.requests.average).toFixed(2)}×), ` +
        `of which under-limit requesters ${underRevealsPerSecond.toFixed(0)}/s; p99 ${(abuse.latency.p99 / Math.max(base.latency.p99, 1)).toFixed(2)}×`,
    );

    // ---- checks ----
    const checks: Array<[string, boolean, string]> = [];
    const check = (name: string, ok: boolean, detail: string) => checks.push([name, ok, detail]);
    const unexpected = kinds.flatMap((k) =>
      [baseTally, mixTally].flatMap((t) => [...(t.byKind.get(k) as Map<number, number>).entries()].filter(([s]) => !expected[k].includes(s)).map(([s, n]) => `${k} ${s}×${n}`)),
    );
    check('every response is the expected status for its kind', unexpected.length === 0, unexpected.join(', ') || 'reveal 200, over-limit 200/429, bad token 401, bad body 400');
    const over429 = of(mixTally, 'over-limit reveal', 429);
    check('over-limit requesters were refused with 429', over429 > 0, `${over429} of ${total(mixTally, 'over-limit reveal')} over-limit reveals`);
    const ids = [...baseTally.revealIds, ...mixTally.revealIds];
    const seen = new Map<string, number>();
    for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    const notOnce = [...seen.entries()].filter(([id, n]) => n !== 1 || auditedReveals.get(id) !== 1);
    const auditedTotal = [...auditedReveals.values()].reduce((a, b) => a + b, 0);
    const unseen = [...auditedReveals.keys()].filter((id) => !seen.has(id)).length;
    check(
      'every 200 reveal is audited exactly once (by request id)',
      ids.length > 0 && notOnce.length === 0,
      `${ids.length} reveal 200s, ${auditedTotal} grant.password-revealed success events, ${notOnce.length} not exactly once`,
    );
    // Audit comes before the answer, so a reveal in flight when autocannon stopped (at most one per connection
    // per run) or one the client gave up on is audited with no 200 seen: anything beyond that is not accounted for.
    const inFlight = 2 * connections + base.errors + base.timeouts + abuse.errors + abuse.timeouts;
    check(
      'no reveal audited without a 200 seen, beyond requests in flight at the end of each run',
      unseen <= inFlight,
      `${unseen} audited reveals with no 200 seen (at most ${inFlight}: ${connections} connections × 2 runs, plus client errors and timeouts)`,
    );
    const refusedIds = [...baseTally.refusedIds, ...mixTally.refusedIds];
    const refusedNotOnce = refusedIds.filter((id) => auditedRefusals.get(id) !== 1).length;
    const auditedRefusalTotal = [...auditedRefusals.values()].reduce((a, b) => a + b, 0);
    check(
      'every 401 is audited as auth.failed exactly once (by request id), and no refusal is audited that was not answered',
      refusedIds.length > 0 && refusedNotOnce === 0 && auditedRefusalTotal - refusedIds.length <= inFlight,
      `${refusedIds.length} 401s, ${auditedRefusalTotal} auth.failed events, ${refusedNotOnce} not exactly once`,
    );
    // The first refusal of each principal in each limiter window is audited, the rest only counted (a flood must not flood the log).
    const windows = Math.ceil((abuseEnd - abuseStart) / windowSeconds) + 1;
    const heavyAudits = over.map((_g, i) => [`heavy-${i + 1}`, rateLimitedBy.get(`heavy-${i + 1}`) ?? 0] as const);
    check(
      'each over-limit requester is audited as rate-limited, at most once per window',
      heavyAudits.every(([, n]) => n >= 1 && n <= windows),
      `${heavyAudits.map(([who, n]) => `${who} ${n}`).join(', ')} security.rate-limited events (at most ${windows} windows); ${over429} 429s in all`,
    );
    const metricRevealed = metricValue(metrics, 'jitbroker_reveals_total', '{outcome="revealed"}');
    check('jitbroker_reveals_total{outcome="revealed"} matches', metricRevealed === auditedTotal, `metric ${String(metricRevealed)}, audited ${auditedTotal}`);
    check('the audit chain verifies (jitbroker audit verify)', verify.ok === true, verifyOut.replace(/\s+/g, ' ').slice(0, 200));
    const revealed = new Set([...baseTally.revealed, ...mixTally.revealed]);
    check(
      'every revealed password is the one its device agent set',
      baseTally.wrongPassword + mixTally.wrongPassword === 0 && [...revealed].every((p) => [...devicePasswords.values()].includes(p)),
      `${revealed.size} distinct passwords revealed, ${baseTally.wrongPassword + mixTally.wrongPassword} wrong`,
    );
    check('every 200 reveal is Cache-Control: no-store', baseTally.missingNoStore + mixTally.missingNoStore === 0, `${baseTally.missingNoStore + mixTally.missingNoStore} without`);
    const leaks = [...baseTally.leaks, ...mixTally.leaks];
    check(
      'no password in any non-reveal response',
      leaks.length === 0,
      `${baseTally.nonRevealBodies + mixTally.nonRevealBodies} responses (headers and bodies) scanned${leaks.length ? `; leaked in: ${[...new Set(leaks)].join(', ')}` : ''}`,
    );
    const logLines = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const leakyLines = logLines.filter((l) => needles.some((n) => l.includes(n))).length;
    check('no password in any daemon log line', leakyLines === 0, `${logLines.length} log lines scanned, ${leakyLines} with a password`);
    check('malformed requests created nothing', grantsAfter === grantsAfterSetup, `${grantsAfter} grants after, ${grantsAfterSetup} before`);
    check('the daemon stopped cleanly on SIGTERM', exitCode === 0, `exit code ${String(exitCode)}`);

    const during = samples.filter((s) => s.phase === 'abuse');
    const first = during[0] ?? samples[0];
    const last = during[during.length - 1] ?? samples[samples.length - 1];
    const max = during.reduce((a, s) => Math.max(a, s.rss), 0);
    const rssSlope = slope(during.map((s) => [s.at / 60, s.rss / 2 ** 20]));
    const heapSlope = slope(during.map((s) => [s.at / 60, s.heap / 2 ** 20]));
    // Flat: RSS follows V8's heap in a sawtooth (collections every few seconds), so a slope over a
    // minute of samples swings with where the teeth fall. A leak raises the peaks instead: the peak
    // of the mix's last third must be within 10 MiB of the peak of its first third.
    const third = (abuseEnd - abuseStart) / 3;
    const peak = (from: number, to: number) => during.filter((s) => s.at >= from && s.at < to).reduce((a, s) => Math.max(a, s.rss), 0);
    const firstPeak = peak(abuseStart, abuseStart + third);
    const lastPeak = peak(abuseEnd - third, abuseEnd + 1);
    check(
      'memory flat under the mix (RSS peak of its last third within 10 MiB of its first third)',
      firstPeak > 0 && lastPeak > 0 && lastPeak - firstPeak < 10 * 2 ** 20,
      `first third ${mib(firstPeak)} MiB, last third ${mib(lastPeak)} MiB (${lastPeak >= firstPeak ? '+' : ''}${mib(lastPeak - firstPeak)})`,
    );

    console.log('');
    console.log(
      `memory (daemon RSS from /metrics every ${sampleSeconds} s, ${samples.length} samples, ${during.length} during the mix): ` +
        `before load ${mib((samples[0] as { rss: number }).rss)} MiB; during the mix first ${mib(first?.rss ?? 0)}, last ${mib(last?.rss ?? 0)}, max ${mib(max)} MiB, ` +
        `slope ${rssSlope.toFixed(2)} MiB/min; heap used slope ${heapSlope.toFixed(2)} MiB/min; after ${mib((samples[samples.length - 1] as { rss: number }).rss)} MiB`,
    );
    console.log(`  rss MiB (s setup, b baseline, p pause, a abuse, f after): ${samples.map((s) => `${s.phase[0]}${s.at.toFixed(0)}s=${mib(s.rss)}`).join(' ')}`);
    console.log(`  heap used MiB: ${samples.map((s) => mib(s.heap)).join(' ')}`);
    console.log(`  external MiB:  ${samples.map((s) => mib(s.external)).join(' ')}`);
    const appendCount = metricValue(metrics, 'jitbroker_audit_append_seconds_count') ?? 0;
    const appendSum = metricValue(metrics, 'jitbroker_audit_append_seconds_sum') ?? 0;
    console.log(`audit: ${events} events: ${byAction}`);
    console.log(`  jitbroker_audit_append_seconds: ${appendCount} appends, mean ${((appendSum / Math.max(appendCount, 1)) * 1e6).toFixed(0)} µs`);
    const grantsMetric = ['requested', 'activated', 'policy-denied', 'conflict'].map((o) => `${o} ${metricValue(metrics, 'jitbroker_grants_total', `{outcome="${o}"}`) ?? '?'}`);
    const revealsMetric = ['revealed', 'refused', 'unavailable'].map((o) => `${o} ${metricValue(metrics, 'jitbroker_reveals_total', `{outcome="${o}"}`) ?? '?'}`);
    console.log(`metrics: jitbroker_grants_total ${grantsMetric.join(', ')}; jitbroker_reveals_total ${revealsMetric.join(', ')}`);
    console.log('');
    for (const [name, ok, detail] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`);
    const failed = checks.filter(([, ok]) => !ok).length;
    console.log('');
    console.log(failed === 0 ? `all ${checks.length} checks passed` : `${failed} of ${checks.length} checks FAILED (data kept in ${dir})`);
    if (failed === 0) fs.rmSync(dir, { recursive: true, force: true });
    else process.exitCode = 1;
  } finally {
    if (!stopped) await stop(proc);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
