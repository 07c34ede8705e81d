import { UserPrincipal } from '../../src/identity/principal';
import { TestApp, createTestApp } from '../support/test-app';

const auditor: UserPrincipal = { kind: 'user', subject: 'dave', roles: ['auditor'], groups: [] };
const admin: UserPrincipal = { kind: 'user', subject: 'admin-1', roles: ['admin'], groups: [] };
const ctx = { requestId: 'test-audit-service' };

describe('the audit service: what auditors do with the log, for auditors only', () => {
  let h: TestApp;
  beforeAll(async () => {
    h = await createTestApp();
  });
  afterAll(async () => {
    await h.close();
  });

  it('refuses every method to a principal without the auditor role, and changes nothing', async () => {
    const before = await h.snapshot();
    const refused = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ code: 'forbidden' });
    await refused(h.auditService.queryEvents(admin, { limit: 10 }));
    await refused(h.auditService.verifyLog(admin, {}));
    await refused(h.auditService.checkpointKey(admin));
    await refused(h.auditService.signCheckpoint(admin));
    await refused(h.auditService.latestCheckpoint(admin));
    await refused(h.auditService.exportLog(admin, { format: 'jsonl' }, ctx));
    expect(await h.snapshot()).toEqual(before);
  });

  it('audits an export before its first line is read', async () => {
    const lines = await h.auditService.exportLog(auditor, { format: 'jsonl' }, ctx);
    const exported = await h.audit.query({ action: 'audit.exported', limit: 10 });
    expect(exported.items).toEqual([expect.objectContaining({ actor: { kind: 'user', subject: 'dave' }, details: { format: 'jsonl', from: null, to: null } })]);
    const read: string[] = [];
    for await (const line of lines) read.push(line);
    // The export's own event is in it: it was appended before the walk began.
    expect(read.some((l) => l.includes('"audit.exported"'))).toBe(true);
  });

  it('pages events with an opaque cursor, and answers not-found before the first checkpoint', async () => {
    // Two more events at least (exports not read), so there is a second page.
    for (let i = 0; i < 2; i++) await h.auditService.exportLog(auditor, { format: 'csv' }, ctx);
    const first = await h.auditService.queryEvents(auditor, { limit: 1 });
    expect(JSON.parse(first.itemsJson)).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await h.auditService.queryEvents(auditor, { limit: 1, cursor: first.nextCursor as string });
    expect(JSON.parse(second.itemsJson)[0].seq).toBe(JSON.parse(first.itemsJson)[0].seq + 1);
    await expect(h.auditService.queryEvents(auditor, { limit: 1, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'invalid-request' });
    await expect(h.auditService.latestCheckpoint(auditor)).rejects.toMatchObject({ code: 'not-found' });
    const signed = await h.auditService.signCheckpoint(auditor);
    expect(await h.auditService.latestCheckpoint(auditor)).toEqual(signed);
  });
});
