import { sql } from 'kysely';
import { UserPrincipal } from '../../src/identity/principal';
import { createSessionRepository } from '../../src/portal/session-repository';
import { SessionService, createSessionService } from '../../src/portal/session-service';
import { TestApp, createTestApp } from '../support/test-app';

const alice: UserPrincipal = { kind: 'user', subject: 'alice', name: 'Alice', roles: ['requester'], groups: ['helpdesk'] };
const ctx = { requestId: 'r-1', clientAddress: '127.0.0.1' };
const settings = { idleSeconds: 30 * 60, absoluteSeconds: 8 * 3600 };
const minutes = (n: number) => n * 60 * 1000;

/** The portal's server-side sessions, on the real store: what the cookie's id can and cannot do. */
describe('portal sessions', () => {
  let h: TestApp;
  let sessions: SessionService;
  /** A second daemon on the same store: its own service, nothing shared in memory. */
  let otherDaemon: SessionService;
  beforeAll(async () => {
    h = await createTestApp();
    const make = () => createSessionService({ db: h.db, sessions: createSessionRepository(), transactor: h.transactor, audit: h.audit, clock: h.clock, settings });
    sessions = make();
    otherDaemon = make();
  });
  afterAll(async () => {
    await h.close();
  });

  const rows = async () => (await sql<Record<string, unknown>>`SELECT * FROM portal_sessions`.execute(h.db)).rows;
  const lastEvent = async () => await h.db.selectFrom('audit_events').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();

  it('starts a session with a new random id each sign-in, keeps only its hash, and audits the sign-in', async () => {
    const a = await sessions.start(alice, ctx);
    const b = await sessions.start(alice, ctx);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrfToken).not.toBe(b.session.csrfToken);
    // Nothing in the store signs anyone in: neither the id nor the CSRF token is kept.
    const stored = JSON.stringify(await rows());
    for (const secret of [a.id, b.id, a.session.csrfToken]) expect(stored).not.toContain(secret);
    const event = await lastEvent();
    expect(event).toMatchObject({ action: 'portal.signed-in', outcome: 'success', actor: 'alice' });
    expect(await otherDaemon.resolve(a.id)).toEqual({ principal: alice, csrfToken: a.session.csrfToken, expiresAt: a.session.expiresAt });
    expect(await sessions.resolve(a.id + 'x')).toBeUndefined();
  });

  it('ends after 30 idle minutes, but not while it is used', async () => {
    const { id } = await sessions.start(alice, ctx);
    for (let i = 0; i < 4; i++) {
      h.clock.advance(minutes(20));
      expect(await sessions.resolve(id)).toBeDefined();
    }
    h.clock.advance(minutes(31));
    expect(await otherDaemon.resolve(id)).toBeUndefined();
    h.clock.advance(minutes(-31));
    // Ended in the store, not only refused: turning the clock back does not revive it.
    expect(await sessions.resolve(id)).toBeUndefined();
  });

  it('ends 8 hours after sign-in however busy', async () => {
    const { id } = await sessions.start(alice, ctx);
    for (let i = 0; i < 23; i++) {
      h.clock.advance(minutes(20));
      expect(await sessions.resolve(id)).toBeDefined();
    }
    h.clock.advance(minutes(20));
    expect(await sessions.resolve(id)).toBeUndefined();
  });

  it('signing out ends it on every daemon, audited once', async () => {
    const { id } = await sessions.start(alice, ctx);
    const before = (await lastEvent()).seq;
    await sessions.end(id, alice, ctx);
    await otherDaemon.end(id, alice, ctx);
    expect(await otherDaemon.resolve(id)).toBeUndefined();
    const events = await h.db.selectFrom('audit_events').select(['action', 'actor']).where('seq', '>', before).execute();
    expect(events).toEqual([{ action: 'portal.signed-out', actor: 'alice' }]);
  });

  it('takes only its own CSRF token', async () => {
    const a = await sessions.start(alice, ctx);
    const b = await sessions.start(alice, ctx);
    expect(sessions.csrfMatches(a.session, a.session.csrfToken)).toBe(true);
    for (const wrong of [b.session.csrfToken, undefined, '', a.session.csrfToken.slice(1)]) expect(sessions.csrfMatches(a.session, wrong)).toBe(false);
  });

  it('forgets sessions a day after they ended or expired', async () => {
    const { id } = await sessions.start(alice, ctx);
    h.clock.advance(minutes(60 * 24 * 2));
    await sessions.prune();
    expect(await rows()).toEqual([]);
    expect(await sessions.resolve(id)).toBeUndefined();
  });

  it('ends, audited, a session whose browser never came back (idle, then past its end) before forgetting it', async () => {
    const bob: UserPrincipal = { kind: 'user', subject: 'bob', roles: ['requester'], groups: [] };
    const { id } = await sessions.start(bob, ctx);
    const before = (await lastEvent()).seq;
    h.clock.advance(minutes(31));
    // Nobody asks with its cookie again: the housekeeping ends it, and says so, once across daemons.
    await Promise.all([sessions.prune(), otherDaemon.prune()]);
    const events = await h.db.selectFrom('audit_events').select(['action', 'actor', 'canonical']).where('seq', '>', before).execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'portal.signed-out', actor: 'bob' });
    expect(JSON.parse(events[0]?.canonical as string)).toMatchObject({ details: { reason: 'idle' } });
    expect(await sessions.resolve(id)).toBeUndefined();
  });
});
