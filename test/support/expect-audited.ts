import { AuditAction } from '../../src/audit/audit-actions';
import { AuditOutcome } from '../../src/audit/audit-event';
import { StoredAuditEvent } from '../../src/audit/audit-log';
import { TestApp } from './test-app';

/** One audit event a request must have written: its action, and any other fields it must hold (as toMatchObject reads them). */
export type ExpectedEvent = { action: AuditAction; outcome?: AuditOutcome } & Record<string, unknown>;

/**
 * Asserts that the request answered by `res` wrote exactly these audit events (found by its
 * request id), in order, each holding what its expectation names; returns them for further checks.
 */
export async function expectAudited(
  h: Pick<TestApp, 'eventsOf'>,
  res: { headers: Record<string, unknown> },
  expected: ExpectedEvent | readonly ExpectedEvent[],
): Promise<StoredAuditEvent[]> {
  const events = await h.eventsOf(res);
  const all: readonly ExpectedEvent[] = Array.isArray(expected) ? expected : [expected as ExpectedEvent];
  expect(events).toMatchObject(all);
  return events;
}
