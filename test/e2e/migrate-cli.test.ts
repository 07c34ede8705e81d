import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { runCli } from '../support/daemon-process';

describe('jitbroker migrate and the schema check on start', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-migrate-'));
  const data = path.join(dir, 'data');
  const env = { JITBROKER_DATA_DIR: data, JITBROKER_PORT: '0' };
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('applies every numbered migration to a fresh data dir and says so', () => {
    const r = runCli(['migrate'], { env, cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'applied 001-initial',
      'applied 002-rotation',
      'applied 003-escalations-webhooks',
      'applied 004-revealed-versions',
      'applied 005-unpruned-versions',
      'applied 006-agent-key-thumbprint',
      'applied 007-grant-coverage',
      'applied 008-portal-sessions',
      'applied 009-portal-sign-ins',
      `schema is current (009-portal-sign-ins): sqlite:${path.join(data, 'jitbroker.db')}`,
    ]);
    expect(fs.statSync(data).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(data, 'jitbroker.db')).mode & 0o777).toBe(0o600);
  });

  it('a second run applies nothing', () => {
    const r = runCli(['migrate'], { env, cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/applied/);
    expect(r.stdout).toMatch(/^schema is current \(009-portal-sign-ins\), nothing to apply: sqlite:/);
  });

  it('serve refuses, before listening, a store that records a migration this build does not have', () => {
    const sqlite = new BetterSqlite3(path.join(data, 'jitbroker.db'));
    sqlite.prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)').run('999-from-the-future', new Date().toISOString());
    sqlite.close();
    const r = runCli(['serve'], { env, cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/listening/);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^jitbroker: refusing to start: the database schema is newer than this build: it has migration 999-from-the-future, which this jitbroker does not know/,
    );
    const again = runCli(['migrate'], { env, cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^jitbroker: refusing to migrate: .*999-from-the-future/);
  });
});
