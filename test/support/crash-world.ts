import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Database } from '../../src/store/schema';
import { systemClock } from '../../src/time/clock';
import { createLocalVault } from '../../src/vault/local/local-vault';
import { createTransactor } from '../../src/store/transactor';
import { DaemonProcess, cleanEnv, cliPath, runCli, startDaemonProcess } from './daemon-process';
import { bearer } from './bearer';
import { waitUntil } from './wait-until';

/** A data dir, a daemon that can be killed and restarted on it, and devices with real agents (file setter). */
export class CrashWorld {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-crash-'));
  readonly dataDir = path.join(this.dir, 'data');
  daemon?: DaemonProcess;
  adminToken = '';

  async start(failpoints = ''): Promise<DaemonProcess> {
    this.daemon = await startDaemonProcess({
      cwd: this.dir,
      env: { JITBROKER_ROTATION_WORKER_SECONDS: '1', ...(failpoints ? { JITBROKER_FAILPOINTS: failpoints } : {}) },
    });
    if (!this.adminToken)
      this.adminToken = runCli(['token', '--sub', 'crash-admin', '--roles', 'admin', '--ttl', '2h'], { env: { JITBROKER_DATA_DIR: this.dataDir } }).stdout.trim();
    return this.daemon;
  }

  get url(): string {
    if (!this.daemon) throw new Error('no daemon');
    return this.daemon.url;
  }

  /** Resolves when the daemon has exited (a failpoint killed it), with the signal that ended it. */
  async exited(timeoutMs = 15000): Promise<NodeJS.Signals | null> {
    const proc = this.daemon?.proc;
    if (!proc) throw new Error('no daemon');
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.signalCode;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`daemon still running after ${timeoutMs} ms:\n${this.daemon?.output()}`)), timeoutMs);
      proc.once('exit', (_code, signal) => {
        clearTimeout(t);
        resolve(signal);
      });
    });
  }

  async api(method: string, route: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(this.url + route, {
      method,
      headers: { ...bearer(this.adminToken), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  keyFile = (id: string) => path.join(this.dir, `${id}.key`);
  deviceFile = (id: string) => path.join(this.dir, `${id}.password`);

  async enrol(id: string): Promise<void> {
    const jwk = runCli(['agent', 'keygen', '--key', this.keyFile(id)]).stdout;
    const r = await this.api('POST', '/v1/devices', { id, groups: ['fleet'], agentKey: JSON.parse(jwk) });
    if (r.status !== 201) throw new Error(`enrol ${id}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** One `jitbroker agent run --once` for the device, as its own process. */
  agent(id: string, failpoints = ''): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    return new Promise((resolve) => {
      const p = spawn(
        process.execPath,
        [cliPath, 'agent', 'run', '--once', '--url', this.url, '--device-id', id, '--key', this.keyFile(id), '--setter', 'file', '--file', this.deviceFile(id)],
        { env: cleanEnv(failpoints ? { JITBROKER_FAILPOINTS: failpoints } : {}), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      p.once('exit', (code, signal) => resolve({ code, signal, stderr }));
    });
  }

  /** Every password the vault can return for the device, by version; read from the files, as an operator recovering would. */
  async vaultPasswords(id: string): Promise<Map<number, string>> {
    const sqlite = new BetterSqlite3(path.join(this.dataDir, 'jitbroker.db'), { fileMustExist: true });
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    try {
      const vault = createLocalVault({ db, dataDir: this.dataDir, clock: systemClock, transactor: createTransactor(db, { maxBatch: 1, maxBatchMs: 10 }) });
      const rows = await db.selectFrom('vault_secrets').select('version').where('name', '=', id).execute();
      const out = new Map<number, string>();
      for (const r of rows) out.set(r.version, ((await vault.get({ deviceId: id, version: r.version }, '')) as { expose(): string }).expose());
      return out;
    } finally {
      await db.destroy();
    }
  }

  async versions(id: string): Promise<Array<{ version: number; state: string }>> {
    const sqlite = new BetterSqlite3(path.join(this.dataDir, 'jitbroker.db'), { fileMustExist: true });
    try {
      return sqlite.prepare('SELECT version, state FROM credential_versions WHERE device_id = ? ORDER BY version').all(id) as Array<{ version: number; state: string }>;
    } finally {
      sqlite.close();
    }
  }

  /** The device's current (acknowledged) version, 0 when it has none. */
  async currentVersion(id: string): Promise<number> {
    return (await this.versions(id)).find((v) => v.state === 'current')?.version ?? 0;
  }

  /** Open rotation jobs of the device: a forced rotation not yet turned into a pending version. */
  openJobs(id: string): number {
    const sqlite = new BetterSqlite3(path.join(this.dataDir, 'jitbroker.db'), { fileMustExist: true });
    try {
      return (sqlite.prepare("SELECT count(*) AS n FROM rotation_jobs WHERE device_id = ? AND state = 'open'").get(id) as { n: number }).n;
    } finally {
      sqlite.close();
    }
  }

  /** The invariant: the device holds a password the vault can return. */
  async deviceHoldsVaultedPassword(id: string): Promise<{ ok: boolean; detail: string }> {
    const onDevice = fs.readFileSync(this.deviceFile(id), 'utf8');
    const vaulted = await this.vaultPasswords(id);
    const match = [...vaulted].find(([, pw]) => pw === onDevice);
    return {
      ok: match !== undefined,
      detail: `device holds ${match ? `version ${match[0]}` : 'a password the vault does not have'}; vault has versions ${[...vaulted.keys()].join(',')}`,
    };
  }

  /**
   * Runs the agent until the device is idle and confirmed: its password is the current version,
   * nothing is pending, and no rotation job is still queued (a job the worker has yet to run again
   * after a restart would otherwise look like a device at rest).
   */
  async converge(id: string, deadlineMs = 20000): Promise<void> {
    let last = '';
    const converged = async () => {
      const r = await this.agent(id);
      const vs = await this.versions(id);
      last = `${JSON.stringify(vs)} agent ${r.code} ${r.stderr}`;
      const current = vs.find((v) => v.state === 'current');
      const pending = vs.find((v) => v.state === 'pending');
      if (r.code !== 0 || !current || pending || this.openJobs(id) !== 0) return false;
      return (await this.vaultPasswords(id)).get(current.version) === fs.readFileSync(this.deviceFile(id), 'utf8');
    };
    await waitUntil(`${id} to converge`, converged, { timeoutMs: deadlineMs, intervalMs: 300, detail: () => last });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.daemon?.stop(signal);
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
