import { UserPrincipal } from '../identity/principal';
import { AuditActor } from './audit-event';

export function actorOf(p: UserPrincipal): AuditActor {
  return { kind: 'user', subject: p.subject, ...(p.name ? { name: p.name } : {}), ...(p.tenant ? { tenant: p.tenant } : {}) };
}
