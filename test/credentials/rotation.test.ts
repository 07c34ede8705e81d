import { DeviceKeyPair, TestApp, createTestApp } from '../support/test-app';
import { sql } from 'kysely';
import { isPostgres } from '../../src/store/dialect';
import { failInserts, restoreInserts } from '../support/store-faults';
import { bearer } from '../support/bearer';

const ctx = { requestId: 'test' };
const minutes = (n: number) => n * 60 * 1000;

/** Makes finishing a rotation job as merged fail inside the database, as a broken store would. */
async function failMerges(h: TestApp): Promise<void> {
  if (isPostgres(h.db)) {
    await sql`CREATE FUNCTION refuse_merge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'merge refused'; END $$`.execute(h.db);
    await sql`CREATE TRIGGER refuse_merge BEFORE UPDATE ON rotation_jobs FOR EACH ROW WHEN (NEW.outcome = 'merged') EXECUTE FUNCTION refuse_merge()`.execute(h.db);
    return;
  }
  await sql`CREATE TRIGGER refuse_merge BEFORE UPDATE ON rotation_jobs WHEN NEW.outcome = 'merged' BEGIN SELECT RAISE(ABORT, 'merge refused'); END`.execute(h.db);
}

async function restoreMerges(h: TestApp): Promise<void> {
  if (isPostgres(h.db)) {
    await sql`DROP TRIGGER refuse_merge ON rotation_jobs`.execute(h.db);
    await sql`DROP FUNCTION refuse_merge()`.execute(h.db);
    return;
  }
  await sql`DROP TRIGGER refuse_merge`.execute(h.db);
}

const versionStates = (h: TestApp, id: string) =>
  h.db.selectFrom('credential_versions').select(['version', 'state', 'reason']).where('device_id', '=', id).orderBy('version').execute();

describe('rotation of one device', () => {
  let h: TestApp;
  let key: DeviceKeyPair;
  let adminToken: string;
  beforeEach(async () => {
    h = await createTestApp();
    adminToken = await h.token('admin-1', ['admin', 'auditor']);
    key = await h.enrolDevice('laptop-7', ['finance-laptops']);
    await h.ackPending('laptop-7', key);
    await h.api
      .post('/v1/policies')
      .set(bearer(adminToken))
      .send({ name: 'p', principals: { groups: ['helpdesk'] }, deviceGroups: ['finance-laptops'], maxDuration: 'PT4H' })
      .expect(201);
  });
  afterEach(async () => {
    await h.close();
  });
  const grant = async (sub: string, duration = 'PT1H') => {
    const t = await h.token(sub, ['requester'], ['helpdesk']);
    const res = await h.api.post('/v1/grants').set(bearer(t)).send({ deviceId: 'laptop-7', reason: 'fix', duration });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, token: t };
  };
  // A fresh token each time: the tests move the clock past a token's hour.
  const view = async () => (await h.api.get('/v1/devices/laptop-7').set(bearer(await h.token('admin-1', ['admin'])))).body;

  it('post-use rotation waits for the last grant on the device, then comes postUseDelay after it ends', async () => {
    const a = await grant('alice', 'PT1H');
    await grant('bob', 'PT2H');
    await h.api.post(`/v1/grants/${a.id}/revoke`).set(bearer(a.token)).send({}).expect(200);
    expect((await view()).rotation.queued).toBeNull();
    h.clock.advance(minutes(121));
    expect(await h.grants.expireDueGrants()).toBe(1);
    const queued = (await view()).rotation.queued;
    expect(queued).toMatchObject({ reason: 'post-use', dueAt: new Date(h.clock.now().getTime() + minutes(5)).toISOString() });
    expect(await h.rotations.runDueJobs()).toBe(0);
    h.clock.advance(minutes(5));
    expect(await h.rotations.runDueJobs()).toBe(1);
    expect((await view()).credential).toMatchObject({ currentVersion: 1, pendingVersion: 2 });
    await h.ackPending('laptop-7', key);
    expect(await versionStates(h, 'laptop-7')).toEqual([
      { version: 1, state: 'superseded', reason: 'initial' },
      { version: 2, state: 'current', reason: 'post-use' },
    ]);
  });

  it('a scheduled rotation waits until the live grant has ended; a forced one does not', async () => {
    const live = await grant('carol', 'PT1H');
    // the device comes due while carol holds her grant
    await h.db.updateTable('devices').set({ next_due: h.clock.now().toISOString() }).execute();
    expect(await h.rotations.enqueueDueRotations()).toBe(1);
    expect(await h.rotations.runDueJobs()).toBe(1);
    const queued = (await view()).rotation.queued;
    const expiresAt = (await h.api.get(`/v1/grants/${live.id}`).set(bearer(live.token))).body.expiresAt;
    expect(queued).toMatchObject({ reason: 'scheduled', dueAt: expiresAt });
    expect((await view()).credential.pendingVersion).toBeNull();
    const forced = await h.api
      .post('/v1/devices/laptop-7/rotate')
      .set(bearer(await h.token('admin-1', ['admin'])))
      .send();
    expect(forced.status).toBe(202);
    expect(forced.body.jobId).toBe(queued.jobId);
    expect(await h.rotations.runDueJobs()).toBe(1);
    expect((await view()).credential.pendingVersion).toBe(2);
  });

  it('a vault that refuses writes: the job backs off exponentially, the device is flagged after 3 failures, and recovers', async () => {
    await failInserts(h.db, 'vault_secrets', 'vault_down', 'disk full');
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    const waits: number[] = [];
    for (let i = 1; i <= 4; i++) {
      expect(await h.rotations.runDueJobs()).toBe(1);
      const v = await view();
      expect(v.rotation).toMatchObject({ failures: i, failing: i >= 3, lastError: expect.stringMatching(/vault did not store/) });
      expect(v.rotation.queued.attempts).toBe(i);
      const wait = Date.parse(v.rotation.queued.dueAt) - h.clock.now().getTime();
      waits.push(wait);
      // base 30 s · 2^(i−1), then a random 50–100 % of it
      expect(wait).toBeGreaterThanOrEqual(0.5 * 30000 * 2 ** (i - 1));
      expect(wait).toBeLessThanOrEqual(30000 * 2 ** (i - 1));
      expect(await h.rotations.runDueJobs()).toBe(0);
      h.clock.advance(wait);
    }
    const failed = await h.audit.query({ action: 'credential.rotation-failed', limit: 10 });
    expect(failed.items).toHaveLength(4);
    expect(h.logLines.some((l) => l.includes('rotation failing: device flagged'))).toBe(true);
    await restoreInserts(h.db, 'vault_secrets', 'vault_down');
    expect(await h.rotations.runDueJobs()).toBe(1);
    await h.ackPending('laptop-7', key);
    expect((await view()).rotation).toMatchObject({ failures: 0, failing: false, lastError: null, queued: null });
  });

  it('the backoffs of several failing jobs are jittered: they differ, each within 50–100 % of the base', async () => {
    const ids = ['pc-1', 'pc-2', 'pc-3', 'pc-4', 'pc-5', 'pc-6'];
    for (const id of ids) await h.ackPending(id, await h.enrolDevice(id, ['finance-laptops']));
    await failInserts(h.db, 'vault_secrets', 'vault_down', 'disk full');
    for (const id of ids) await h.api.post(`/v1/devices/${id}/rotate`).set(bearer(adminToken)).send().expect(202);
    expect(await h.rotations.runDueJobs()).toBe(ids.length);
    const jobs = await h.db.selectFrom('rotation_jobs').select(['device_id', 'due_at', 'attempts']).where('state', '=', 'open').execute();
    expect(jobs.map((j) => [j.device_id, j.attempts]).sort()).toEqual(ids.map((id) => [id, 1]));
    const waits = jobs.map((j) => Date.parse(j.due_at) - h.clock.now().getTime());
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(0.5 * 30000);
      expect(wait).toBeLessThanOrEqual(30000);
    }
    // Without jitter every job would come back at the same instant, and hit the recovering vault together.
    expect(new Set(waits).size).toBeGreaterThan(1);
    await restoreInserts(h.db, 'vault_secrets', 'vault_down');
  });

  it('a store failure before the rotation is attempted fails the job: recorded, backed off, then retried', async () => {
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    expect(await h.rotations.runDueJobs()).toBe(1);
    // A second request meets version 2 pending: merging it is the first write, and it fails.
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    await failMerges(h);
    expect(await h.rotations.runDueJobs()).toBe(1);
    const v = await view();
    expect(v.rotation).toMatchObject({ failures: 1, lastError: expect.stringMatching(/store refused the change/), queued: { attempts: 1 } });
    expect((await h.audit.query({ action: 'credential.rotation-failed', limit: 5 })).items).toHaveLength(1);
    await restoreMerges(h);
    h.clock.advance(Date.parse(v.rotation.queued.dueAt) - h.clock.now().getTime());
    expect(await h.rotations.runDueJobs()).toBe(1);
    expect(await h.db.selectFrom('rotation_jobs').select(['state', 'outcome']).orderBy('created_at').execute()).toEqual([
      { state: 'done', outcome: 'rotated' },
      { state: 'done', outcome: 'merged' },
    ]);
  });

  it('a set the agent reports as failed is retried after a backoff with a new version', async () => {
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    await h.rotations.runDueJobs();
    const p = await h.rotations.fetchPending('laptop-7', ctx);
    await h.rotations.acknowledge('laptop-7', p!.version, 'failed', 'Set-LocalUser: the password does not meet the policy', ctx);
    const v = await view();
    expect(v.rotation).toMatchObject({ failures: 1, queued: { reason: 'manual' } });
    expect(v.credential).toMatchObject({ currentVersion: 1, pendingVersion: null });
    h.clock.advance(Date.parse(v.rotation.queued.dueAt) - h.clock.now().getTime());
    expect(await h.rotations.runDueJobs()).toBe(1);
    await h.ackPending('laptop-7', key);
    expect((await versionStates(h, 'laptop-7')).map((r) => `${r.version}:${r.state}`)).toEqual(['1:superseded', '2:failed', '3:current']);
  });

  it('keeps the current and rotation.history (5) superseded versions in the vault and removes older ones', async () => {
    for (let i = 0; i < 8; i++) {
      await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
      await h.rotations.runDueJobs();
      await h.ackPending('laptop-7', key);
    }
    const rows = await h.db.selectFrom('credential_versions').select(['version', 'state', 'vault_pruned_at', 'vault_ref']).orderBy('version').execute();
    expect(rows.map((r) => r.state)).toEqual([...Array(8).fill('superseded'), 'current']);
    const inVault = await Promise.all(rows.map(async (r) => (await h.vault.get({ deviceId: 'laptop-7', version: r.version }, r.vault_ref)) !== undefined));
    expect(inVault).toEqual([false, false, false, true, true, true, true, true, true]);
    expect(rows.slice(0, 3).every((r) => r.vault_pruned_at !== null)).toBe(true);
  });

  it('failed versions do not count against rotation.history: the 5 newest superseded stay in the vault', async () => {
    const rotateAndAnswer = async (result: 'set' | 'failed') => {
      await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
      const queued = (await view()).rotation.queued;
      h.clock.advance(Math.max(0, Date.parse(queued.dueAt) - h.clock.now().getTime()));
      expect(await h.rotations.runDueJobs()).toBe(1);
      const p = await h.rotations.fetchPending('laptop-7', ctx);
      await h.rotations.acknowledge('laptop-7', p!.version, result, result === 'failed' ? 'the account is locked' : undefined, ctx);
    };
    for (let i = 0; i < 5; i++) await rotateAndAnswer('set');
    for (let i = 0; i < 3; i++) await rotateAndAnswer('failed');
    await rotateAndAnswer('set');
    const rows = await h.db.selectFrom('credential_versions').select(['version', 'state', 'vault_ref']).where('device_id', '=', 'laptop-7').orderBy('version').execute();
    expect(rows.map((r) => `${r.version}:${r.state}`)).toEqual([
      '1:superseded',
      '2:superseded',
      '3:superseded',
      '4:superseded',
      '5:superseded',
      '6:superseded',
      '7:failed',
      '8:failed',
      '9:failed',
      '10:current',
    ]);
    const inVault = await Promise.all(rows.map(async (r) => (await h.vault.get({ deviceId: 'laptop-7', version: r.version }, r.vault_ref)) !== undefined));
    expect(inVault).toEqual([false, true, true, true, true, true, true, true, true, true]);
  });

  // Invariant 3: a pending version shown to a requester (past ackTimeout) is a used password.
  it.each([
    { order: 'the worker runs before the agent acknowledges', ackFirst: false },
    { order: 'the agent acknowledges before the worker runs', ackFirst: true },
  ])('a post-use rotation is not satisfied by the pending version the requester was shown ($order)', async ({ ackFirst }) => {
    const g = await grant('alice');
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    expect(await h.rotations.runDueJobs()).toBe(1);
    const fetched = await h.rotations.fetchPending('laptop-7', ctx);
    h.clock.advance(minutes(15));
    const shown = await h.api.get(`/v1/grants/${g.id}/password`).set(bearer(g.token));
    expect(shown.body).toMatchObject({ version: 1, possiblyInEffect: { version: 2, password: fetched!.password.expose() } });
    await h.api.post(`/v1/grants/${g.id}/revoke`).set(bearer(g.token)).send({}).expect(200);
    if (ackFirst) await h.rotations.acknowledge('laptop-7', 2, 'set', undefined, ctx);
    h.clock.advance(minutes(5));
    expect(await h.rotations.runDueJobs()).toBe(1);
    if (!ackFirst) {
      // Version 2 is still unconfirmed: the job waits for it instead of merging into it.
      expect((await view()).rotation.queued).toMatchObject({ reason: 'post-use' });
      expect((await view()).credential).toMatchObject({ currentVersion: 1, pendingVersion: 2 });
      await h.rotations.acknowledge('laptop-7', 2, 'set', undefined, ctx);
      // The acknowledgement brings the waiting job forward: no clock advance needed.
      expect(await h.rotations.runDueJobs()).toBe(1);
    }
    expect((await view()).credential).toMatchObject({ currentVersion: 2, pendingVersion: 3 });
    expect((await h.audit.query({ action: 'credential.rotation-merged', limit: 5 })).items).toHaveLength(0);
    const v3 = await h.ackPending('laptop-7', key);
    expect(v3.password).not.toBe(fetched!.password.expose());
    expect(await versionStates(h, 'laptop-7')).toEqual([
      { version: 1, state: 'superseded', reason: 'initial' },
      { version: 2, state: 'superseded', reason: 'manual' },
      { version: 3, state: 'current', reason: 'post-use' },
    ]);
  });

  it('a forced rotation waits for an unconfirmed initial password the requester was shown, however long its agent is silent', async () => {
    const key8 = await h.enrolDevice('laptop-8', ['finance-laptops']);
    const fetched = await h.api.get('/v1/agent/credential').set(bearer(await h.agentToken('laptop-8', key8)));
    h.clock.advance(minutes(15));
    const t = await h.token('alice', ['requester'], ['helpdesk']);
    const g = await h.api.post('/v1/grants').set(bearer(t)).send({ deviceId: 'laptop-8', reason: 'r', duration: 'PT1H' });
    const shown = await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(t));
    expect(shown.body).toMatchObject({ version: 1, unconfirmed: true, password: fetched.body.password });
    await h.api.post('/v1/devices/laptop-8/rotate').set(bearer(adminToken)).send().expect(202);
    // The job re-checks every ackTimeout and keeps waiting while version 1 is unconfirmed.
    for (let i = 0; i < 3; i++) {
      if (i > 0) h.clock.advance(minutes(15));
      expect(await h.rotations.runDueJobs()).toBe(1);
      expect(await h.rotations.runDueJobs()).toBe(0);
    }
    const pendingOf8 = async () => (await h.api.get('/v1/devices/laptop-8').set(bearer(await h.token('admin-1', ['admin'])))).body.credential.pendingVersion;
    expect(await pendingOf8()).toBe(1);
    await h.rotations.acknowledge('laptop-8', 1, 'set', undefined, ctx);
    expect(await h.rotations.runDueJobs()).toBe(1);
    expect(await pendingOf8()).toBe(2);
    expect((await h.audit.query({ action: 'credential.rotation-merged', limit: 5 })).items).toHaveLength(0);
  });

  it('reveals a fetched, unacknowledged version as possibly in effect once ackTimeout has passed, and audits it', async () => {
    const g = await grant('alice');
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    await h.rotations.runDueJobs();
    const fetched = await h.rotations.fetchPending('laptop-7', ctx);
    const reveal = () => h.api.get(`/v1/grants/${g.id}/password`).set(bearer(g.token));
    h.clock.advance(minutes(14));
    const early = await reveal();
    expect(early.body.version).toBe(1);
    expect(early.body.possiblyInEffect).toBeUndefined();
    h.clock.advance(minutes(1));
    const late = await reveal();
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({ version: 1, possiblyInEffect: { version: 2, password: fetched!.password.expose() } });
    const events = await h.audit.query({ action: 'grant.password-revealed', limit: 5 });
    expect(events.items.at(-1)).toMatchObject({ reason: expect.stringMatching(/version 2 .* may be in effect/), details: { version: 1, possiblyInEffect: 2 } });
    expect((await view()).rotation.ackOverdue).toBe(true);
  });

  it('with no confirmed password yet, reveals the fetched one past ackTimeout as unconfirmed', async () => {
    const key8 = await h.enrolDevice('laptop-8', ['finance-laptops']);
    const fetched = await h.api.get('/v1/agent/credential').set(bearer(await h.agentToken('laptop-8', key8)));
    const t = await h.token('alice', ['requester'], ['helpdesk']);
    const g = await h.api.post('/v1/grants').set(bearer(t)).send({ deviceId: 'laptop-8', reason: 'r', duration: 'PT1H' });
    expect((await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(t))).status).toBe(409);
    h.clock.advance(minutes(15));
    const t2 = await h.token('alice', ['requester'], ['helpdesk']);
    const res = await h.api.get(`/v1/grants/${g.body.id}/password`).set(bearer(t2));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ version: 1, unconfirmed: true, password: fetched.body.password });
  });

  it('a retired device`s open job is cancelled, not run', async () => {
    await h.api.post('/v1/devices/laptop-7/rotate').set(bearer(adminToken)).send().expect(202);
    await h.api.delete('/v1/devices/laptop-7').set(bearer(adminToken)).send().expect(200);
    expect(await h.rotations.runDueJobs()).toBe(1);
    const job = await h.db.selectFrom('rotation_jobs').selectAll().executeTakeFirstOrThrow();
    expect(job).toMatchObject({ state: 'done', outcome: 'cancelled' });
    expect((await view()).credential.pendingVersion).toBeNull();
  });
});
