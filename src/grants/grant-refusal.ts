import { AuditInput } from '../audit/audit-event';
import { AuditLog } from '../audit/audit-log';
import { DomainError } from '../problems/problem';
import { Transactor } from '../store/transactor';

/** Commits the refusal's audit event on its own, then throws: a refusal is never unaudited. */
export function createRefuse(deps: { transactor: Transactor; audit: Pick<AuditLog, 'append'> }) {
  return async function refuse(event: Omit<AuditInput, 'outcome'>, error: DomainError, outcome: 'denied' | 'failure' = 'denied'): Promise<never> {
    await deps.transactor.run((tx) => deps.audit.append(tx, { ...event, outcome, reason: error.message }));
    // Committed above: the HTTP layer must not audit it again.
    throw error.audited();
  };
}

export type Refuse = ReturnType<typeof createRefuse>;
