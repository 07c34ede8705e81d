/** What an auditor reads about one action: when it is written, what its target names, what its details hold. */
export interface AuditActionEntry {
  when: string;
  target: string;
  details: string;
}

/**
 * Every action the broker writes to the audit log, and what each records. The `action` of an audit
 * event is one of these keys (a typo fails typecheck), and README's table for auditors is this one
 * (test/audit/audit-actions.test.ts keeps them in step). An action once written stays here: old
 * events keep their names, and an auditor's query by name must keep finding them.
 */
export const auditActions = {
  'grant.requested': {
    when: 'a requester asks for elevation: success when policy allows it, denied (with the reason) when it does not',
    target: 'grant:<id>',
    details: 'policy, duration, ticket, requireApproval',
  },
  'grant.activated': {
    when: 'a grant starts: at once when no approval is needed, or when it is approved',
    target: 'grant:<id>',
    details: 'expiresAt (after an approval)',
  },
  'grant.approved': { when: 'an approver (not the requester) approves a pending grant; the reason is their comment', target: 'grant:<id>', details: '-' },
  'grant.denied': {
    when: 'an approver denies a pending grant, or a policy change or retirement ends it before it started',
    target: 'grant:<id>',
    details: '-',
  },
  'grant.revoked': {
    when: 'an active grant is ended early: by its requester, an admin, a policy change or the device retiring',
    target: 'grant:<id>',
    details: 'rotationJob, rotationDueBy (when its post-use rotation was queued)',
  },
  'grant.expired': {
    when: 'an active grant passes its expiry (actor system)',
    target: 'grant:<id>',
    details: 'rotationJob, rotationDueBy (when its post-use rotation was queued)',
  },
  'grant.password-revealed': {
    when: 'every reveal, before the password leaves: success, or denied / failure with the refusal',
    target: 'grant:<id>',
    details: 'version, unconfirmed, possiblyInEffect, changedSinceLastReveal, previousVersion',
  },
  'credential.rotation-started': { when: 'the worker writes a new pending password to the vault', target: 'version:<n>', details: 'reason, job' },
  'credential.rotation-merged': { when: 'a rotation job is satisfied by a pending password nobody has seen', target: 'job:<id>', details: 'reason' },
  'credential.rotation-failed': { when: 'a rotation job fails; it is retried after a backoff', target: 'job:<id>', details: 'failures' },
  'credential.fetched': { when: "the device's agent fetches its pending password", target: 'version:<n>', details: '-' },
  'credential.acknowledged': {
    when: 'the agent reports a pending password set (success: it becomes current) or not set (failure: a retry is queued)',
    target: 'version:<n>',
    details: 'superseded (success), failures (failure)',
  },
  'device.enrolled': { when: 'an admin enrols a device; its initial password waits for the agent', target: 'version:<n>', details: 'groups, account' },
  'device.rotation-requested': { when: 'an admin forces a rotation', target: 'job:<id>', details: '-' },
  'device.retired': { when: 'an admin retires a device; its open grants end first', target: '-', details: 'grantsEnded, revealedPasswordRemains' },
  'policy.created': {
    when: 'an admin creates a policy',
    target: 'policy:<id>',
    details: 'name, deviceGroups, maxDuration, requireApproval, requireTicket, enabled',
  },
  'policy.updated': {
    when: 'an admin replaces a policy; the open grants it no longer allows end in the same transaction',
    target: 'policy:<id>',
    details: 'the policy.created fields, grantsEnded',
  },
  'policy.deleted': { when: 'an admin deletes a policy; the open grants no other policy allows end', target: 'policy:<id>', details: 'grantsEnded' },
  'escalation.submitted': {
    when: 'designated staff file a Sev C escalation; the reason is its summary',
    target: 'escalation:<id>',
    details: 'severity, category, routedTo, ticket',
  },
  'escalation.status-changed': { when: 'an admin moves an escalation along; the reason is their note', target: 'escalation:<id>', details: 'from, to' },
  'auth.failed': {
    when: "a bearer token, portal session (ended, or a state-changing request without the portal's Origin and CSRF token), portal sign-in or device key is refused (actor anonymous, never the credential)",
    target: '<METHOD> <path>',
    details: 'credential (user, session, portal or device); failure (portal: the word the browser is shown)',
  },
  'authorization.failed': { when: 'an authenticated caller is refused by role or policy and nothing else audited it', target: '<METHOD> <route>', details: '-' },
  'security.rate-limited': { when: 'the first refusal of a caller by a rate limit in each window', target: '-', details: 'limit' },
  'audit.exported': { when: 'an auditor starts an export, before its first byte', target: '-', details: 'format, from, to' },
  'audit.checkpoint': { when: 'the chain head is signed (on schedule or on demand)', target: 'seq:<n>', details: 'checkpointSeq, checkpointHash, signature, keyId' },
  'audit.rollback-accepted': {
    when: 'the daemon starts, with audit.acceptRollback, on a log older than its last checkpoint',
    target: '-',
    details: '-',
  },
  'portal.signed-in': {
    when: 'someone signs in to the portal (a session starts; the actor is who signed in)',
    target: '-',
    details: 'expiresAt (the session ends then at the latest)',
  },
  'portal.signed-out': {
    when: 'a portal session ends on every daemon: signed out, replaced by a new sign-in in the same browser, idle too long, or at its maximum age',
    target: '-',
    details: 'reason (signed-out, replaced, idle or expired)',
  },
  'store.write-probe': { when: 'readiness tries a write after commits failed, and it succeeds', target: '-', details: 'the failure it recovered from' },
} as const satisfies Record<string, AuditActionEntry>;

export type AuditAction = keyof typeof auditActions;
