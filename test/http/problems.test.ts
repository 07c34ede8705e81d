import { problems } from '../../src/problems/problem';
import { TestApp, createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

describe('service routes, request ids and problem documents', () => {
  let h: TestApp;
  beforeAll(async () => {
    h = await createTestApp();
  });
  afterAll(async () => {
    await h.close();
  });

  it('/healthz and /readyz answer without auth', async () => {
    expect((await h.api.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await h.api.get('/readyz')).body).toEqual({ status: 'ready' });
  });

  it('/readyz answers 503 when the vault cannot decrypt its canary', async () => {
    await h.vault.check();
    const row = await h.db.selectFrom('vault_secrets').selectAll().where('name', '=', '__canary__').executeTakeFirstOrThrow();
    await h.db
      .updateTable('vault_secrets')
      .set({ tag: Buffer.alloc(16) })
      .where('name', '=', '__canary__')
      .execute();
    const res = await h.api.get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('unavailable');
    expect(res.text).not.toMatch(/canary|key file|decrypt/);
    await h.db.updateTable('vault_secrets').set({ tag: row.tag }).where('name', '=', '__canary__').execute();
    expect((await h.api.get('/readyz')).status).toBe(200);
  });

  it('mints its own request id whatever the client offers; a sane offered one comes back as X-Client-Request-Id, an unsafe one not at all', async () => {
    const sane = await h.api.get('/healthz').set('x-request-id', 'ticket-42.a:b');
    expect(sane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(sane.headers['x-client-request-id']).toBe('ticket-42.a:b');
    for (const unsafe of ['x'.repeat(200), 'a\tb']) {
      const res = await h.api.get('/healthz').set('x-request-id', unsafe);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-client-request-id']).toBeUndefined();
    }
  });

  it("makes request ids that sort in the order the requests came, so each appends to the audit log's request-id index", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await h.api.get('/healthz')).headers['x-request-id'] as string);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('puts the request id on the problem, the audit event and the log line of that request, and the offered one beside it', async () => {
    const res = await h.api.get('/v1/devices').set('x-request-id', 'req-trace-1');
    expect(res.status).toBe(401);
    const id = res.headers['x-request-id'] as string;
    expect(res.body.requestId).toBe(id);
    const events = await h.audit.query({ requestId: id, limit: 5 });
    expect(events.items.map((e) => [e.action, e.context?.clientRequestId])).toEqual([['auth.failed', 'req-trace-1']]);
    expect(h.logLines.some((l) => l.includes(`"requestId":"${id}"`) && l.includes('"clientRequestId":"req-trace-1"') && l.includes('"status":401'))).toBe(true);
  });

  it('never logs the authorization header', async () => {
    const token = await h.token('admin-1', ['admin']);
    await h.api.get('/v1/devices').set(bearer(token));
    expect(h.logLines.join('\n')).not.toContain(token.split('.')[2]);
  });

  it('every problem code has a status, a title and a documented type', () => {
    for (const [code, p] of Object.entries(problems)) {
      expect(p.status).toBeGreaterThanOrEqual(400);
      expect(p.title.length).toBeGreaterThan(5);
      expect(code).toMatch(/^[a-z-]+$/);
    }
  });
});

describe('the leak check itself', () => {
  it('fails when a password reaches a log line', async () => {
    const h = await createTestApp();
    const key = await h.enrolDevice('laptop-1', ['g']);
    const { password } = await h.ackPending('laptop-1', key);
    await h.assertNoSecretLeaked();
    h.logLines.push(JSON.stringify({ msg: `oops ${password}` }));
    await expect(h.assertNoSecretLeaked()).rejects.toThrow(/leaked into log line/);
    h.logLines.pop();
    await h.close();
  });
});
