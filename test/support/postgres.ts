import { SpawnSyncOptions, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './http-cookies';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

export interface TestPostgres {
  /** A database of its own on a cluster of its own, as the superuser `postgres` (trust auth, loopback only). */
  url: string;
  /** The cluster's server log so far, for failure messages. */
  log(): string;
  /** pg_ctl stop -m fast, then removes the cluster's directory. */
  stop(): Promise<void>;
  /** pg_ctl stop -m immediate: the server dies at once, as on a crash or a lost host, and every client's connection drops. */
  kill(): void;
  /**
   * Starts the stopped cluster again on the same port. `refuseConnections` starts it as a standby
   * with hot_standby off: it runs, and refuses every connection with 57P03, as a server still
   * starting up or recovering does.
   */
  restart(opts?: { refuseConnections?: boolean }): void;
}

const missing = 'PostgreSQL binaries (initdb, pg_ctl) are required for the PostgreSQL tests; install postgresql-15';

/** The directory holding initdb and pg_ctl: the PATH first, then Debian's /usr/lib/postgresql/<version>/bin, newest first. */
export function findPostgresBin(where: { path?: string; debianRoot?: string } = { path: process.env.PATH, debianRoot: '/usr/lib/postgresql' }): string {
  for (const dir of (where.path ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  const debian = where.debianRoot ?? '/nonexistent';
  const versions = fs.existsSync(debian) ? fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)) : [];
  for (const v of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = path.join(debian, v, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  // Loud, never a skip: a suite that silently skips PostgreSQL would pass without testing it.
  throw new Error(missing);
}

/**
 * A temp dir the `postgres` user can reach: root's TMPDIR may be private (a 0700 /tmp in some
 * containers). /var/tmp before /dev/shm, which is often too small for a cluster.
 */
function baseDirForPostgresUser(): string {
  const candidates = [os.tmpdir(), '/var/tmp', '/dev/shm'];
  const reachable = candidates.find((d) => fs.existsSync(d) && spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', d, '-a', '-x', d]).status === 0);
  if (!reachable) throw new Error(`none of ${candidates.join(', ')} is writable by the postgres user, which runs the test cluster`);
  return reachable;
}

/**
 * A cluster fresh from initdb, made once per machine, user and PostgreSQL version and copied for
 * each test file: initdb takes about a second of CPU, a copy a tenth of that, and some eighty
 * clusters start in one `npm test`. It is made in a directory of its own and moved into place by
 * one rename, so a worker either finds it whole or not at all while others make it too.
 */
function templateDataDir(bin: string, base: string, run: (tool: string, args: string[], cwd: string) => void, chownToRunner: (dir: string) => void): string {
  const version = /\d+(\.\d+)*/.exec(execFileSync(path.join(bin, 'initdb'), ['--version'], { encoding: 'utf8' }))?.[0] ?? 'unknown';
  const template = path.join(base, `jitbroker-pg-template-${version}-uid${process.getuid?.() ?? 'x'}`);
  if (fs.existsSync(path.join(template, 'data', 'PG_VERSION'))) return path.join(template, 'data');
  const making = fs.mkdtempSync(`${template}.making-`);
  chownToRunner(making);
  try {
    // Synced to disk before the rename (unlike the clusters copied from it, which run without fsync):
    // the template outlives a crash of the machine, and a half-written one would fail every copy.
    run('initdb', ['-D', path.join(making, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-instructions'], making);
    fs.renameSync(making, template);
  } catch (e) {
    fs.rmSync(making, { recursive: true, force: true });
    // Another worker moved its own into place first: use that one.
    if (!fs.existsSync(path.join(template, 'data', 'PG_VERSION'))) throw e;
  }
  return path.join(template, 'data');
}

/**
 * Starts a throwaway PostgreSQL cluster for one test file: a copy of a fresh initdb cluster
 * (templateDataDir) in a temp dir, pg_ctl start on a free loopback port (socket in the same dir),
 * then creates one database. PostgreSQL refuses to run as root, so as root (CI) the cluster
 * belongs to and runs as the `postgres` user.
 */
export async function startPostgres(opts: { database?: string; durable?: boolean } = {}): Promise<TestPostgres> {
  const bin = findPostgresBin();
  const root = process.getuid?.() === 0;
  const base = root ? baseDirForPostgresUser() : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'jb-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const chownToRunner = (d: string) => {
    if (!root) return;
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    fs.chownSync(d, uid, gid);
  };
  chownToRunner(dir);
  /** Runs a PostgreSQL tool (or `cp`, by absolute path) as the user the cluster belongs to. */
  const run = (tool: string, args: string[], cwd = dir) => {
    const file = path.isAbsolute(tool) ? tool : path.join(bin, tool);
    const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    // The server pg_ctl leaves running writes to the log file, not to these pipes, so the call returns once pg_ctl does.
    const options: SpawnSyncOptions = { cwd, encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', LANG: 'C' } };
    const r = spawnSync(cmd as string, argv as string[], options);
    if (r.status !== 0) {
      const serverLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      throw new Error(`${tool} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${String(r.stdout)}${String(r.stderr)}${serverLog}`);
    }
  };
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });

  try {
    // cp -a keeps the owner and the 0700 mode PostgreSQL insists on for its data directory.
    run('/bin/cp', ['-a', templateDataDir(bin, base, run, chownToRunner), data]);
  } catch (e) {
    remove();
    throw e;
  }
  let port = 0;
  const serverOptions = (extra = '') =>
    // Benchmarks ask for a durable server (fsync on, as SQLite's synchronous=FULL is); tests do not need one.
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${opts.durable ? '' : ' -c fsync=off -c full_page_writes=off'}${extra}`;
  // Another process may take the free port between the probe and the server's bind: try again on a new one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '30', '-o', serverOptions(), 'start']);
      break;
    } catch (e) {
      if (attempt >= 3) {
        remove();
        throw e;
      }
    }
  }
  const stop = async () => {
    try {
      // A test that killed the cluster (kill) may end before it restarts it.
      if (fs.existsSync(path.join(data, 'postmaster.pid'))) run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } finally {
      remove();
    }
  };
  const standbySignal = path.join(data, 'standby.signal');
  const kill = () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  const restart = (how: { refuseConnections?: boolean } = {}) => {
    if (how.refuseConnections) {
      fs.writeFileSync(standbySignal, '');
      const owner = fs.statSync(data);
      fs.chownSync(standbySignal, owner.uid, owner.gid);
    } else fs.rmSync(standbySignal, { force: true });
    run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '30', '-o', serverOptions(how.refuseConnections ? ' -c hot_standby=off' : ''), 'start']);
  };
  const database = opts.database ?? 'jitbroker_test';
  try {
    const admin = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${database}`);
    } finally {
      await admin.end();
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/${database}`, log, stop, kill, restart };
}
