import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { sqliteHandleOf } from '../../src/store/database';
import { Scenario, createScenario, requestGrant } from '../support/scenario';
import { bearer } from '../support/bearer';

/** Runs chattr, loudly: the test needs root (CAP_LINUX_IMMUTABLE) and a file system with inode flags (ext4, xfs, btrfs). */
function chattr(flag: '+i' | '-i', file: string): void {
  const r = spawnSync('chattr', [flag, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chattr ${flag} ${file} failed (${r.error?.message ?? r.stderr}): this test needs root and a file system with inode flags`);
}

/**
 * Real store faults under the daemon's own SQLite connection: a store that fills up (SQLite's
 * max_page_count, so no small file system is needed) and one whose file system refuses writes
 * (the WAL made immutable: writes through the open file fail with EPERM, as with EROFS on a
 * file system remounted read-only after errors). Either way the write's own error is logged
 * once (not the rollback's "no transaction is active", not once per request), counted by cause in
 * /metrics, and /readyz answers 503 until the store takes writes again.
 */
describe.each([
  {
    fault: 'a full store (max_page_count reached)',
    cause: 'SQLITE_FULL',
    break: (s: Scenario) => {
      const sqlite = sqliteHandleOf(s.h.db);
      if (!sqlite) throw new Error('not SQLite');
      sqlite.pragma(`max_page_count = ${Number(sqlite.pragma('page_count', { simple: true }))}`);
    },
    repair: (s: Scenario) => void sqliteHandleOf(s.h.db)?.pragma('max_page_count = 1073741823'),
  },
  {
    fault: 'a store whose file system refuses writes (the WAL immutable)',
    cause: 'SQLITE_IOERR_WRITE',
    break: (s: Scenario) => chattr('+i', path.join(s.h.dataDir, 'jitbroker.db-wal')),
    repair: (s: Scenario) => chattr('-i', path.join(s.h.dataDir, 'jitbroker.db-wal')),
  },
])('$fault', ({ cause, break: breakStore, repair }) => {
  let s: Scenario;
  let broken = false;
  beforeEach(async () => {
    s = await createScenario();
  });
  afterEach(async () => {
    if (broken) repair(s);
    await s.h.close();
  });
  const outageLines = () => s.h.logLines.filter((l) => l.includes('"msg":"the store is unavailable'));
  const commitFailures = async () => {
    const text = (await s.h.api.get('/metrics')).text;
    const m = new RegExp(`^jitbroker_store_commit_failures_total\\{code="${cause}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  it(`reveals answer 503; ${cause} is logged once and counted; /readyz is 503 until the store takes writes again`, async () => {
    const g = await requestGrant(s, s.tokens.alice);
    expect((await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice))).status).toBe(200);
    breakStore(s);
    broken = true;
    const failed: Array<{ status: number; code: unknown; text: string }> = [];
    // A full store may still fit a few events in its last pages: reveal until five have failed.
    for (let i = 0; i < 300 && failed.length < 5; i++) {
      const res = await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice));
      if (res.status !== 200) failed.push({ status: res.status, code: (res.body as { code?: unknown }).code, text: res.text });
    }
    expect(failed).toHaveLength(5);
    for (const f of failed) {
      expect({ status: f.status, code: f.code }).toEqual({ status: 503, code: 'unavailable' });
      expect(f.text).not.toContain(s.password);
    }
    expect((await s.h.api.get('/readyz')).status).toBe(503);
    expect((await s.h.api.get('/readyz')).status).toBe(503);
    // The write's own error, once for all those requests and readiness polls; never the rollback's.
    expect(outageLines().map((l) => (JSON.parse(l) as { cause: string }).cause)).toEqual([cause]);
    expect(s.h.logLines.join('\n')).not.toContain('cannot rollback');
    expect(await commitFailures()).toBeGreaterThanOrEqual(failed.length);

    repair(s);
    broken = false;
    // No request needs to come first: readiness writes a probe itself, audited.
    expect((await s.h.api.get('/readyz')).status).toBe(200);
    const probes = await s.h.audit.query({ action: 'store.write-probe', limit: 10 });
    expect(probes.items).toHaveLength(1);
    expect(probes.items[0]?.details).toMatchObject({ code: cause });
    expect(s.h.logLines.some((l) => l.includes('"msg":"the store commits again"') && l.includes(`"cause":"${cause}"`))).toBe(true);
    expect((await s.h.api.get(`/v1/grants/${g.id}/password`).set(bearer(s.tokens.alice))).status).toBe(200);
    expect(outageLines()).toHaveLength(1);
  });
});
