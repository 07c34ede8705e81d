import crypto from 'node:crypto';
import type { RequestContext } from '../audit/audit-event';
import type { AuditLog } from '../audit/audit-log';
import { actorOf } from '../audit/actor';
import { UserPrincipal } from '../identity/principal';
import { Db } from '../store/database';
import type { PortalSessionTable } from '../store/schema';
import { Transactor } from '../store/transactor';
import type { Tx } from '../store/unit-of-work';
import { Clock } from '../time/clock';
import { SessionRepository } from './session-repository';

export interface SessionSettings {
  /** Signed out after this long without a request. */
  idleSeconds: number;
  /** Signed out this long after signing in, however busy. */
  absoluteSeconds: number;
}

/** A live session, as the request that presented its cookie sees it. */
export interface PortalSession {
  principal: UserPrincipal;
  /** The token the portal sends back in a header on every state-changing request (CSRF). */
  csrfToken: string;
  expiresAt: string;
}

// Written at most this often per session: every request of a busy page would otherwise be a write.
const touchEverySeconds = 60;

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('base64url');
const hashOf = (id: string) => sha256(`session:${id}`);
/** Derived from the session id, which only the server and the HttpOnly cookie know: nothing to store. */
const csrfTokenOf = (id: string) => sha256(`csrf:${id}`);

/**
 * The portal's server-side sessions: a random 256-bit id in the browser's cookie, its hash and the
 * signed-in principal in the store. Sign-in and sign-out are audited; idle and absolute timeouts
 * end a session by themselves.
 */
export function createSessionService(deps: {
  db: Db;
  sessions: SessionRepository;
  transactor: Transactor;
  audit: Pick<AuditLog, 'append'>;
  clock: Clock;
  settings: SessionSettings;
}) {
  const { db, sessions, transactor, audit, clock, settings } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();

  /**
   * Starts a session for a principal just verified; the id goes into the cookie and nowhere else.
   * `authContextsUntil`: when the access token the principal came from expires (seconds since the
   * epoch); its authContexts (a step-up) count until then only.
   */
  async function start(principal: UserPrincipal, ctx: RequestContext, opts: { authContextsUntil?: number } = {}): Promise<{ id: string; session: PortalSession }> {
    // A new id at every sign-in: an id planted in the browser before it (session fixation) is never the one signed in.
    const id = crypto.randomBytes(32).toString('base64url');
    const now = clock.now().getTime();
    const expiresAt = iso(now + settings.absoluteSeconds * 1000);
    await transactor.run(async (tx) => {
      await sessions.insert(tx, {
        id_hash: hashOf(id),
        subject: principal.subject,
        principal: JSON.stringify(principal),
        created_at: iso(now),
        last_seen_at: iso(now),
        expires_at: expiresAt,
        ended_at: null,
        ended_reason: null,
        auth_contexts_until: opts.authContextsUntil !== undefined ? iso(opts.authContextsUntil * 1000) : null,
      });
      await audit.append(tx, { actor: actorOf(principal), action: 'portal.signed-in', outcome: 'success', details: { expiresAt }, context: ctx });
    });
    return { id, session: { principal, csrfToken: csrfTokenOf(id), expiresAt } };
  }

  /** Why a live session has lapsed at `now` (past its absolute end, or unused for the idle time), or undefined while it has not. */
  function lapseOf(row: PortalSessionTable, now: number): 'expired' | 'idle' | undefined {
    if (now >= Date.parse(row.expires_at)) return 'expired';
    return now >= Date.parse(row.last_seen_at) + settings.idleSeconds * 1000 ? 'idle' : undefined;
  }

  /**
   * The live session behind a cookie's id, or undefined (unknown, ended, idle too long, past its
   * absolute end). `activity: false` for what a page does by itself (a background poll): it reads
   * the session but does not keep it alive, so a tab left open ends after the idle timeout like one
   * left closed.
   */
  async function resolve(id: string, opts: { activity: boolean } = { activity: true }): Promise<PortalSession | undefined> {
    const idHash = hashOf(id);
    const row = await sessions.findLive(db, idHash);
    if (!row) return undefined;
    const now = clock.now().getTime();
    const reason = lapseOf(row, now);
    if (reason) {
      // Audited like a sign-out, by the session's own principal: an auditor sees every way a session ended.
      await transactor.run((tx) => endLapsed(tx, row, reason, iso(now)));
      return undefined;
    }
    if (opts.activity && now - Date.parse(row.last_seen_at) >= touchEverySeconds * 1000) await transactor.run((tx) => sessions.touch(tx, idHash, iso(now)));
    const { authContexts, ...rest } = JSON.parse(row.principal) as UserPrincipal;
    // A step-up is as fresh as the token that carried it: past its exp, a reveal asks for it again.
    const fresh = authContexts !== undefined && row.auth_contexts_until !== null && now < Date.parse(row.auth_contexts_until);
    const principal: UserPrincipal = fresh ? { ...rest, authContexts } : rest;
    return { principal, csrfToken: csrfTokenOf(id), expiresAt: row.expires_at };
  }

  /** Signs out: the session ends on the server, for every daemon; audited when it was live. */
  async function end(id: string, principal: UserPrincipal, ctx: RequestContext): Promise<void> {
    await transactor.run(async (tx) => {
      if (await sessions.end(tx, hashOf(id), clock.now().toISOString(), 'signed-out'))
        await audit.append(tx, { actor: actorOf(principal), action: 'portal.signed-out', outcome: 'success', details: { reason: 'signed-out' }, context: ctx });
    });
  }

  /** What the store keeps of a session id (its hash): a pending sign-in holds it to end that session when the new one starts. */
  function refOf(id: string): string {
    return hashOf(id);
  }

  /** Ends the live session behind a ref because its browser signed in again (a step-up, another account); audited as its owner's sign-out. */
  async function endReplaced(ref: string, ctx: RequestContext): Promise<void> {
    await transactor.run(async (tx) => {
      const row = await sessions.findLive(tx, ref);
      if (row && (await sessions.end(tx, ref, clock.now().toISOString(), 'replaced'))) {
        const owner = JSON.parse(row.principal) as UserPrincipal;
        await audit.append(tx, { actor: actorOf(owner), action: 'portal.signed-out', outcome: 'success', details: { reason: 'replaced' }, context: ctx });
      }
    });
  }

  /** Ends a lapsed session (idle or past its absolute end), audited by its own principal; false when another daemon already had. */
  async function endLapsed(tx: Tx, row: PortalSessionTable, reason: 'idle' | 'expired', at: string): Promise<boolean> {
    if (!(await sessions.end(tx, row.id_hash, at, reason))) return false;
    await audit.append(tx, { actor: actorOf(JSON.parse(row.principal) as UserPrincipal), action: 'portal.signed-out', outcome: 'success', details: { reason } });
    return true;
  }

  /**
   * Ends, audited, the sessions whose browser never came back (an auditor sees every session end,
   * not only those a request noticed), then forgets sessions that ended more than a day ago.
   */
  async function prune(): Promise<number> {
    const now = clock.now().getTime();
    for (;;) {
      const lapsed = await sessions.lapsed(db, { now: iso(now), idleSince: iso(now - settings.idleSeconds * 1000), limit: 100 });
      for (const row of lapsed) {
        // The query chose it by the same rule; a row it returns has lapsed.
        const reason = lapseOf(row, now) ?? 'idle';
        await transactor.run((tx) => endLapsed(tx, row, reason, iso(now)));
      }
      if (lapsed.length < 100) break;
    }
    return transactor.run((tx) => sessions.prune(tx, iso(now - 86400 * 1000)));
  }

  /** Whether a request's CSRF token is this session's, compared in constant time. */
  function csrfMatches(session: PortalSession, presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const [a, b] = [Buffer.from(session.csrfToken), Buffer.from(presented)];
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  }

  return { start, resolve, end, refOf, endReplaced, prune, csrfMatches };
}

export type SessionService = ReturnType<typeof createSessionService>;
