import fs from 'node:fs';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import { JWK, KeyLike, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import request from 'supertest';
import { sql } from 'kysely';
import { Client } from 'pg';
import { Services, createServices } from '../../src/app';
import { Infra, openInfra } from '../../src/infra';
import { redactPaths } from '../../src/logging/redact-paths';
import { StoredAuditEvent } from '../../src/audit/audit-log';
import { migrate } from '../../src/store/database';
import { tablesInCopyOrder } from '../../src/store/store-copy';
import { openPostgres } from '../../src/store/postgres';
import { TestPostgres, startPostgres } from './postgres';
import { Config } from '../../src/config/config-schema';
import { loadConfig } from '../../src/config/load-config';
import { createHttpApp } from '../../src/http/http-app';
import { Role } from '../../src/identity/principal';
import { ManualClock, createManualClock } from '../../src/time/clock';
import { signAgentToken } from './agent-token';
import { bearer } from './bearer';

export interface DeviceKeyPair {
  privateKey: KeyLike;
  publicJwk: JWK;
}

export interface TestApp extends Services {
  config: Config;
  dataDir: string;
  clock: ManualClock;
  logLines: string[];
  /** supertest bound to the app: every response it gets is recorded for the leak check. */
  api: ReturnType<typeof request>;
  /**
   * Serves the app on a loopback port (for clients that need a URL, such as the device agent); closed with the app.
   * `port` when the config must name the address first (portal.publicOrigin); default any free one.
   */
  listen(port?: number): Promise<string>;
  token(sub: string, roles: Role[], groups?: string[], extra?: { ttlSeconds?: number; name?: string }): Promise<string>;
  deviceKey(): Promise<DeviceKeyPair>;
  agentToken(deviceId: string, key: DeviceKeyPair, claims?: Partial<Record<'iss' | 'sub' | 'aud' | 'jti', string>> & { iat?: number; exp?: number }): Promise<string>;
  /** Enrols a device through the API as `admin` and returns its agent key. */
  enrolDevice(id: string, groups: string[], opts?: { account?: string }): Promise<DeviceKeyPair>;
  /** Plays the device agent once: fetches the pending password and acknowledges it as set. */
  ackPending(deviceId: string, key: DeviceKeyPair): Promise<{ version: number; password: string }>;
  /** Counts of every table and the audit head, to show a refused request changed nothing. */
  snapshot(): Promise<Record<string, number | string>>;
  /** The audit events the request behind this response appended (found by its X-Request-Id). */
  eventsOf(res: { headers: Record<string, unknown> }): Promise<StoredAuditEvent[]>;
  /** Every password the vault holds, plus every one a response carried. */
  knownPasswords(): Promise<string[]>;
  /** Throws when any log line, non-password response or the database file holds a known password. */
  assertNoSecretLeaked(): Promise<void>;
  close(): Promise<void>;
}

const passwordRoutes = [/^GET \/v1\/grants\/[^/]+\/password$/, /^GET \/v1\/agent\/credential$/];

interface Recorded {
  route: string;
  status: number;
  text: string;
}

/** Records every response body and header set the app sends. */
function recorder(into: Recorded[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    const chunks: Buffer[] = [];
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => Response;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk) chunks.push(Buffer.from(chunk as string));
      return write(chunk, ...rest);
    }) as Response['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as string));
      into.push({
        route: `${req.method} ${req.originalUrl.split('?')[0]}`,
        status: res.statusCode,
        text: JSON.stringify(res.getHeaders()) + Buffer.concat(chunks).toString('utf8'),
      });
      return end(chunk, ...rest);
    }) as Response['end'];
    next();
  };
}

export const admin = { sub: 'admin-1', roles: ['admin'] as Role[] };

/**
 * Finds the first place that holds any needle, by a Rabin–Karp rolling hash over the bytes per
 * needle length (one linear pass per length, however many passwords). It runs in a worker thread:
 * inside Jest's VM context the same loop runs about thirty times slower.
 */
const scanSource = `
const { parentPort, workerData } = require('node:worker_threads');
function containsAny(haystack, needles) {
  const byLength = new Map();
  const hashOf = (b, from, length) => { let h = 0; for (let i = from; i < from + length; i++) h = (Math.imul(h, 257) + b[i]) >>> 0; return h; };
  for (const n of needles) {
    if (n.length === 0) continue;
    let table = byLength.get(n.length);
    if (!table) byLength.set(n.length, (table = new Map()));
    const h = hashOf(n, 0, n.length);
    table.set(h, [...(table.get(h) || []), n]);
  }
  for (const [length, table] of byLength) {
    if (haystack.length < length) continue;
    const seen = new Uint8Array(1 << 20);
    for (const h of table.keys()) seen[h & 0xfffff] = 1;
    let top = 1;
    for (let i = 1; i < length; i++) top = Math.imul(top, 257) >>> 0;
    let h = hashOf(haystack, 0, length);
    for (let i = 0; ; i++) {
      if (seen[h & 0xfffff] === 1 && (table.get(h) || []).some((n) => Buffer.compare(n, haystack.subarray(i, i + length)) === 0)) return true;
      if (i + length >= haystack.length) break;
      h = (Math.imul((h - Math.imul(haystack[i], top)) | 0, 257) + haystack[i + length]) >>> 0;
    }
  }
  return false;
}
const needles = workerData.needles.map((n) => Buffer.from(n, 'utf8'));
const found = workerData.places.find(([, where]) => containsAny(typeof where === 'string' ? require('node:fs').readFileSync(where) : Buffer.from(where), needles));
parentPort.postMessage(found ? found[0] : null);
`;

function firstLeak(places: Array<[string, string | Uint8Array]>, needles: readonly string[]): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const w = new Worker(scanSource, { eval: true, workerData: { places, needles } });
    w.once('message', (m: string | null) => resolve(m));
    w.once('error', reject);
  });
}

export type TestStore = 'sqlite' | 'postgres';

/** The store test apps use unless told: JITBROKER_TEST_STORE=postgres runs them on PostgreSQL. */
export function defaultTestStore(): TestStore {
  return process.env.JITBROKER_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

/**
 * One PostgreSQL cluster per test file (per Jest worker module registry), started on first use;
 * every test app gets a database of its own, cloned from a template migrated once.
 */
let sharedCluster: Promise<{ pg: TestPostgres; admin: string }> | undefined;

function adminUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function sharedPostgres(): Promise<{ pg: TestPostgres; admin: string }> {
  sharedCluster ??= (async () => {
    const pg = await startPostgres({ database: 'jb_template' });
    try {
      const db = openPostgres(pg.url, { maxConnections: 1 });
      try {
        await migrate(db);
      } finally {
        await db.destroy();
      }
    } catch (e) {
      await pg.stop();
      throw e;
    }
    return { pg, admin: adminUrl(pg.url, 'postgres') };
  })();
  return sharedCluster;
}

async function adminQuery(url: string, text: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A new, migrated database on the shared test cluster; its URL. */
export async function createTestDatabase(): Promise<string> {
  const { pg, admin } = await sharedPostgres();
  const name = `t_${crypto.randomBytes(6).toString('hex')}`;
  await adminQuery(admin, `CREATE DATABASE ${name} TEMPLATE jb_template`);
  return adminUrl(pg.url, name);
}

async function dropTestDatabase(url: string): Promise<void> {
  if (!sharedCluster) return;
  const { admin } = await sharedCluster;
  await adminQuery(admin, `DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
}

/** Stops the shared cluster (an afterAll of every file that used it); safe to call when none was started. */
export async function stopSharedPostgres(): Promise<void> {
  const cluster = sharedCluster;
  sharedCluster = undefined;
  if (cluster) await (await cluster).pg.stop();
}

// A whole file run with JITBROKER_TEST_STORE=postgres: its cluster goes when the file ends.
if (process.env.JITBROKER_TEST_STORE === 'postgres' && typeof afterAll === 'function') afterAll(stopSharedPostgres);

/**
 * The real service graph on a temp-dir SQLite (or, with store postgres, a fresh database of its
 * own on a test cluster), the local vault, a manual clock and a captured log.
 */
export async function createTestApp(env: Record<string, string> = {}, opts: { store?: TestStore } = {}): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-test-'));
  const opened: Opened = {};
  try {
    return await assembleTestApp(dataDir, env, opts, opened);
  } catch (e) {
    // A start the test expects to be refused: close what was opened, leave no data dir or database behind.
    await opened.infra?.close().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (opened.pgUrl) await dropTestDatabase(opened.pgUrl).catch(() => undefined);
    throw e;
  }
}

/** What assembleTestApp has opened so far, for createTestApp to close if it fails part way. */
interface Opened {
  infra?: Infra;
  pgUrl?: string;
}

async function assembleTestApp(dataDir: string, env: Record<string, string>, opts: { store?: TestStore }, opened: Opened): Promise<TestApp> {
  const store = opts.store ?? defaultTestStore();
  const pgUrl = store === 'postgres' ? await createTestDatabase() : undefined;
  opened.pgUrl = pgUrl;
  const config = loadConfig({
    env: {
      JITBROKER_DATA_DIR: dataDir,
      ...(pgUrl ? { JITBROKER_STORE_DRIVER: 'postgres', JITBROKER_STORE_URL: pgUrl } : {}),
      JITBROKER_LOG_LEVEL: 'debug',
      // Tests send many requests, and many refusals, from one address: the limits have their own test.
      JITBROKER_HTTP_RATE_LIMITS_REQUESTS_PER_ADDRESS: '1000000',
      JITBROKER_HTTP_RATE_LIMITS_AUTH_FAILURES_PER_ADDRESS: '1000000',
      JITBROKER_HTTP_RATE_LIMITS_GRANT_REQUESTS_PER_PRINCIPAL: '1000000',
      JITBROKER_HTTP_RATE_LIMITS_REVEALS_PER_PRINCIPAL: '1000000',
      // Tests drive the rotation worker themselves, a thousand devices at a time: the cap has its own tests.
      JITBROKER_ROTATION_MAX_PER_SECOND: '0',
      ...env,
    },
  });
  const clock = createManualClock(new Date());
  const logLines: string[] = [];
  const logger = pino({ level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } }, { write: (s: string) => void logLines.push(s) });
  const infra = await openInfra(config, { env: process.env, clock, logger });
  opened.infra = infra;
  const services = await createServices(config, infra);
  const recorded: Recorded[] = [];
  const outer = express();
  outer.use(recorder(recorded));
  outer.use(
    createHttpApp({
      ...services,
      logger,
      ready: services.ready,
      httpSettings: { trustProxy: config.http.trustProxy, rateLimits: config.http.rateLimits, publicOrigin: config.portal.publicOrigin },
    }),
  );
  const api = request(outer);
  const servers: http.Server[] = [];
  async function listen(port = 0): Promise<string> {
    const server = http.createServer(outer);
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }
  const revealed = new Set<string>();

  const token: TestApp['token'] = (sub, roles, groups = [], extra = {}) => services.issueToken({ sub, roles, groups, name: extra.name, ttlSeconds: extra.ttlSeconds ?? 3600 });

  async function deviceKey(): Promise<DeviceKeyPair> {
    const pair = await generateKeyPair('ES256', { extractable: true });
    return { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };
  }

  const agentToken: TestApp['agentToken'] = (deviceId, key, claims = {}) => signAgentToken(deviceId, key.privateKey, { aud: config.agent.audience, ...claims }, clock.now());

  async function enrolDevice(id: string, groups: string[], opts: { account?: string } = {}): Promise<DeviceKeyPair> {
    const key = await deviceKey();
    const res = await api
      .post('/v1/devices')
      .set(bearer(await token(admin.sub, admin.roles)))
      .send({ id, groups, agentKey: key.publicJwk, ...opts });
    if (res.status !== 201) throw new Error(`enrol ${id}: ${res.status} ${res.text}`);
    return key;
  }

  async function ackPending(deviceId: string, key: DeviceKeyPair): Promise<{ version: number; password: string }> {
    const fetched = await api.get('/v1/agent/credential').set(bearer(await agentToken(deviceId, key)));
    if (fetched.status !== 200) throw new Error(`agent fetch ${deviceId}: ${fetched.status} ${fetched.text}`);
    const { version, password } = fetched.body as { version: number; password: string };
    const ack = await api
      .post(`/v1/agent/credential/${version}/ack`)
      .set(bearer(await agentToken(deviceId, key)))
      .send({ result: 'set' });
    if (ack.status !== 204) throw new Error(`agent ack ${deviceId}: ${ack.status} ${ack.text}`);
    return { version, password };
  }

  async function snapshot(): Promise<Record<string, number | string>> {
    const out: Record<string, number | string> = {};
    // Every table of the schema (the store copy's list, which fails to compile when one is missing).
    for (const table of tablesInCopyOrder) {
      const r = await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(services.db);
      out[table] = Number(r.rows[0]?.n ?? 0);
    }
    const states = pgUrl
      ? await sql<{ s: string | null }>`SELECT string_agg(id || ':' || state, ',' ORDER BY id) AS s FROM grants`.execute(services.db)
      : await sql<{ s: string }>`SELECT group_concat(id || ':' || state, ',') AS s FROM grants`.execute(services.db);
    out.grantStates = states.rows[0]?.s ?? '';
    return out;
  }

  async function eventsOf(res: { headers: Record<string, unknown> }): Promise<StoredAuditEvent[]> {
    return (await services.audit.query({ requestId: res.headers['x-request-id'] as string, limit: 50 })).items;
  }

  async function knownPasswords(): Promise<string[]> {
    const versions = await services.db.selectFrom('credential_versions').select(['device_id', 'version', 'vault_ref']).execute();
    const fromVault = await Promise.all(versions.map((v) => services.vault.get({ deviceId: v.device_id, version: v.version }, v.vault_ref)));
    for (const r of recorded) {
      if (r.status === 200 && passwordRoutes.some((p) => p.test(r.route))) {
        const m = /"password":"((?:[^"\\]|\\.)*)"/.exec(r.text);
        if (m) revealed.add(JSON.parse(`"${m[1]}"`) as string);
      }
    }
    return [...new Set([...fromVault.flatMap((s) => (s ? [s.expose()] : [])), ...revealed])];
  }

  async function assertNoSecretLeaked(): Promise<void> {
    const passwords = await knownPasswords();
    if (passwords.length === 0) return;
    const dbFiles = ['', '-wal'].map((s) => path.join(dataDir, 'jitbroker.db' + s)).filter((f) => fs.existsSync(f));
    // On PostgreSQL there is no file to read: every row of every table, as text.
    const dbRows: Array<[string, Uint8Array]> = [];
    if (pgUrl) {
      const tables = await sql<{ t: string }>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`.execute(services.db);
      for (const { t } of tables.rows) {
        const rows = await sql<{ j: string }>`SELECT row_to_json(x)::text AS j FROM ${sql.table(t)} x`.execute(services.db);
        dbRows.push([`table ${t}`, Buffer.from(rows.rows.map((r) => r.j).join('\n'), 'utf8')]);
      }
    }
    // Text places go as bytes; files as paths the worker reads itself.
    const places: Array<[string, string | Uint8Array]> = [
      ...logLines.map((l, i): [string, Uint8Array] => [`log line ${i}`, Buffer.from(l, 'utf8')]),
      ...recorded
        .filter((r) => !(r.status === 200 && passwordRoutes.some((p) => p.test(r.route))))
        .map((r): [string, Uint8Array] => [`response to ${r.route} (${r.status})`, Buffer.from(r.text, 'utf8')]),
      ...dbFiles.map((f): [string, string] => [f, f]),
      ...dbRows,
    ];
    const needles = [...new Set(passwords.flatMap((pw) => [pw, JSON.stringify(pw).slice(1, -1)]))];
    const where = await firstLeak(places, needles);
    if (where !== null) throw new Error(`a password leaked into ${where}`);
  }

  return {
    ...services,
    config,
    dataDir,
    clock,
    logLines,
    api,
    listen,
    token,
    deviceKey,
    agentToken,
    enrolDevice,
    ackPending,
    snapshot,
    eventsOf,
    knownPasswords,
    assertNoSecretLeaked,
    async close() {
      try {
        await assertNoSecretLeaked();
      } finally {
        for (const server of servers) {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
        }
        await services.transactor.drain();
        await infra.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
        if (pgUrl) await dropTestDatabase(pgUrl);
      }
    },
  };
}
