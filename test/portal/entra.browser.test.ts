/// <reference lib="dom" />
// The functions these tests hand to page.evaluate run in the browser.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { bearer } from '../support/bearer';
import { freePort } from '../support/http-cookies';
import { seedLaptop7 } from '../support/scenario';
import { launchBrowser, screenshot, seriousViolations, stepTimeoutMs } from '../support/browser';
import { FakeEntra, start as startFakeEntra } from '../support/fake-entra';
import { TestApp, createTestApp } from '../support/test-app';

/**
 * The portal's Entra sign-in in a real Chromium (identity.mode oidc): the daemon on loopback, a
 * local Entra-shaped authority over HTTPS with a login form (test/support/fake-entra.ts), and a
 * person who clicks, types and comes back signed in; the step-up round trip for a reveal; and a
 * sign-in cancelled at Entra.
 */
// Each test is a person's whole errand in a browser: longer than a unit test's default.
jest.setTimeout(90_000);

const clientId = '6f1c2a3b-0000-4000-8000-00000000e7a1';
const secretVariable = 'JITBROKER_TEST_PORTAL_BROWSER_SECRET';
// As Entra sends them: app-role values the role map names, and group object ids.
const roleMap = { 'JitBroker.Requester': 'requester', 'JitBroker.Admin': 'admin', 'JitBroker.Auditor': 'auditor' };
const helpdesk = crypto.randomUUID();
const alice = { oid: crypto.randomUUID(), name: 'Alice Example', roles: ['JitBroker.Requester', 'Mail.Reader'], groups: [helpdesk] };
const aliceLogin = { login: 'alice@contoso.example', password: 'pw-alice' };

/**
 * Chromium trusts the fake's self-signed certificate by its key and nothing else: ignoring every
 * certificate error (ignoreHTTPSErrors) would also let a wrong host or an expired certificate by.
 */
function spkiPin(certificatePem: string): string {
  const der = new crypto.X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}

describe('the portal’s Entra sign-in in a browser (identity.mode oidc)', () => {
  let entra: FakeEntra;
  let h: TestApp;
  let url: string;
  let caDir: string;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let auditorToken: string;
  beforeAll(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const app: { h?: TestApp } = {};
    entra = await startFakeEntra({
      https: true,
      clock: { now: () => app.h?.clock.now() ?? new Date() },
      clients: { [clientId]: 'portal-secret' },
      redirectUris: [`${origin}/auth/callback`],
      users: { [aliceLogin.login]: { password: aliceLogin.password, claims: alice } },
    });
    process.env[secretVariable] = 'portal-secret';
    caDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-entra-ca-'));
    fs.writeFileSync(path.join(caDir, 'ca.pem'), entra.ca as string);
    const [harness, launched] = await Promise.all([
      createTestApp({
        JITBROKER_IDENTITY_MODE: 'oidc',
        JITBROKER_IDENTITY_OIDC_AUTHORITY: entra.base,
        JITBROKER_IDENTITY_OIDC_TENANT_ID: entra.tenantId,
        JITBROKER_IDENTITY_OIDC_AUDIENCE: entra.audience,
        JITBROKER_IDENTITY_OIDC_REVEAL_AUTH_CONTEXT: 'c1',
        JITBROKER_IDENTITY_OIDC_ROLE_MAP: JSON.stringify(roleMap),
        JITBROKER_IDENTITY_OIDC_CA_FILE: path.join(caDir, 'ca.pem'),
        JITBROKER_PORTAL_PUBLIC_ORIGIN: origin,
        JITBROKER_PORTAL_ENTRA_CLIENT_ID: clientId,
        JITBROKER_PORTAL_ENTRA_CLIENT_SECRET_ENV: secretVariable,
      }),
      launchBrowser([`--ignore-certificate-errors-spki-list=${spkiPin(entra.ca as string)}`]),
    ]);
    h = app.h = harness;
    browser = launched;
    url = await h.listen(port);
    expect(url).toBe(origin);
    // laptop-7 with an acknowledged password, under a policy designating the helpdesk group (no approver).
    const adminToken = await entra.mint({ oid: crypto.randomUUID(), name: 'Ada Admin', roles: ['JitBroker.Admin'] });
    auditorToken = await entra.mint({ oid: crypto.randomUUID(), name: 'Aud Itor', roles: ['JitBroker.Auditor'] });
    await seedLaptop7(h, adminToken, helpdesk);
  });
  afterAll(async () => {
    delete process.env[secretVariable];
    await browser?.close();
    await h?.close();
    await entra?.stop();
    if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  async function newPage(): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    // A step that does not happen fails naming the step, long before the test's own timeout.
    context.setDefaultTimeout(stepTimeoutMs);
    return context.newPage();
  }

  /** What the person does on Entra's sign-in page: the login form, filled in and sent. */
  async function signInAtEntra(page: Page, who = aliceLogin): Promise<void> {
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    expect(page.url().startsWith(`${entra.base}/${entra.tenantId}/oauth2/v2.0/authorize?`)).toBe(true);
    await page.getByLabel('Email, phone or Skype').fill(who.login);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** The URLs the tab's history holds, every entry (the page itself sees only its own and a count). */
  async function historyUrls(page: Page): Promise<string[]> {
    const cdp = await page.context().newCDPSession(page);
    const { entries } = (await cdp.send('Page.getNavigationHistory')) as { entries: Array<{ url: string }> };
    await cdp.detach();
    // The tab's first entry is the about:blank every new page opens on.
    return entries.map((e) => e.url).filter((u) => u !== 'about:blank');
  }

  /** Everything the page's scripts can keep or read back: the address, the history, the storages, its cookies. */
  const browserSide = (page: Page) =>
    page.evaluate(async () => ({
      href: location.href,
      historyLength: history.length,
      historyState: JSON.stringify(history.state),
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      indexedDb: (await indexedDB.databases()).map((d) => d.name),
      cacheStorage: await caches.keys(),
      documentCookie: document.cookie,
      referrer: document.referrer,
    }));

  it('signs in through Entra’s login form and comes back signed in to the page it started from: the token’s roles and groups, Strict HttpOnly cookie, no code, state or token in the address, history or storage', async () => {
    const page = await newPage();
    const callbacks: string[] = [];
    page.on('request', (r) => void (new URL(r.url()).pathname === '/auth/callback' && callbacks.push(r.url())));
    await page.goto(url + '/');
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click();
    await signInAtEntra(page);
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
    expect(await page.getByTestId('signed-in-as').textContent()).toBe(alice.name);
    expect(page.url()).toBe(url + '/');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'my-access-oidc-en-1280');

    // The person the daemon signed in: the token's oid, name, roles and groups, as a bearer token with the same claims is mapped.
    const session = (await page.evaluate(() => fetch('/auth/session').then((r) => r.json()))) as { principal: unknown };
    const asBearer = await h.api
      .post('/v1/grants')
      .set(bearer(await entra.mint(alice)))
      .send({ deviceId: 'laptop-7', reason: 'the same principal', duration: 'PT15M' });
    expect(asBearer.status).toBe(201);
    // The role map's value, the unmapped role dropped; the group ids as they came.
    expect(session.principal).toEqual({ subject: alice.oid, name: alice.name, roles: ['requester'], groups: [helpdesk] });
    expect(asBearer.body.requester).toBe(alice.oid);
    await h.api
      .post(`/v1/grants/${asBearer.body.id}/revoke`)
      .set(bearer(await entra.mint(alice)))
      .send({})
      .expect(200);

    // One cookie, host-only, HttpOnly, Secure, SameSite=Strict, for the session; the sign-in's binding cookie is gone.
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => ({ ...c, value: '', expires: c.expires }))).toEqual([
      { name: '__Host-jitbroker-session', value: '', domain: '127.0.0.1', path: '/', expires: -1, httpOnly: true, secure: true, sameSite: 'Strict' },
    ]);

    // Entra came back once, with a code and the state; neither stays anywhere the page can reach.
    expect(callbacks).toHaveLength(1);
    const back = new URL(callbacks[0] as string);
    const code = back.searchParams.get('code') as string;
    const state = back.searchParams.get('state') as string;
    expect([code.length > 20, state.length > 20]).toEqual([true, true]);
    const seen = await browserSide(page);
    expect(seen).toMatchObject({ href: url + '/', documentCookie: '', indexedDb: [], cacheStorage: [] });
    const kept = JSON.stringify(seen);
    for (const secret of [code, state, cookies[0]?.value as string]) expect(kept).not.toContain(secret);
    expect(kept).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
    // The history: the portal page, Entra's login page (whose address carries the state, as every
    // authorization request does), the portal page again; never the callback with its code.
    const entries = await historyUrls(page);
    expect(seen.historyLength).toBe(entries.length + 1);
    expect(entries.map((e) => (e.startsWith(entra.base) ? 'entra' : e))).toEqual([url + '/', 'entra', url + '/']);
    expect(entries.join(' ')).not.toContain(code);
    expect(entries.filter((e) => e.includes(state)).every((e) => e.startsWith(entra.base))).toBe(true);
  });

  it('the step-up round trip: Reveal sends the person through Entra again for context c1 (backing out there keeps them signed in), they sign in, come back to the grant, Reveal shows the password, audited as them', async () => {
    const page = await newPage();
    // A link to a page that needs a session, opened signed out: through Entra and back to it.
    await page.goto(url + '/request');
    await signInAtEntra(page);
    await page.getByRole('heading', { level: 1, name: 'Request access' }).waitFor();
    expect(page.url()).toBe(url + '/request');
    await page.getByRole('combobox', { name: /Device/ }).fill('laptop');
    await page.getByRole('option', { name: /laptop-7/ }).click();
    await page.getByLabel('Reason').fill('printer driver for the finance team');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.getByRole('heading', { level: 1, name: 'Access to laptop-7' }).waitFor();
    await page.getByText('Active', { exact: true }).waitFor();
    const grantPath = new URL(page.url()).pathname;
    const grantId = grantPath.split('/')[2] as string;

    const sessionId = async () => (await page.context().cookies()).find((c) => c.name === '__Host-jitbroker-session')?.value;
    const before = await sessionId();
    // Backing out of the step-up at Entra: the reveal does not happen, and the session stays as it was.
    await page.getByRole('button', { name: 'Reveal password' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('The sign-in was cancelled or refused.').waitFor();
    expect(page.url()).toBe(`${url}/signed-out?error=access-denied`);
    await page.getByText(`You are still signed in as ${alice.name}, as before.`).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    expect(await sessionId()).toBe(before);
    await page.getByRole('main').getByRole('link', { name: 'Back to the portal' }).click();
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
    // Its own grant among the earlier ones on laptop-7 (all made at the harness's same instant).
    await page.locator(`main a[href="${grantPath}"]`).click();
    await page.getByRole('heading', { level: 1, name: 'Access to laptop-7' }).waitFor();

    const asked = entra.authorizeRequests().length;
    await page.getByRole('button', { name: 'Reveal password' }).click();
    // Entra is asked for the authentication context, with the way back to this grant.
    await signInAtEntra(page);
    const stepUp = entra.authorizeRequests().slice(asked);
    expect(stepUp).toHaveLength(1);
    expect(JSON.parse(stepUp[0]?.get('claims') as string)).toMatchObject({ access_token: { acrs: { essential: true, value: 'c1' } } });
    expect(stepUp[0]?.get('redirect_uri')).toBe(`${url}/auth/callback`);

    await page.getByRole('heading', { level: 1, name: 'Access to laptop-7' }).waitFor();
    expect(page.url()).toBe(url + grantPath);
    // A new session, under a new id: the one from before the step-up is over on the server.
    const after = await sessionId();
    expect(after).not.toBe(before);
    const old = await h.api.get('/auth/session').set('Cookie', `__Host-jitbroker-session=${before}`);
    expect(old.body.signedIn).toBe(false);
    await page.getByRole('button', { name: 'Reveal password' }).click();
    await page.getByText('Account:').waitFor();
    await page.getByRole('button', { name: 'Show' }).click();
    const password = (await page.getByTestId('password').textContent()) as string;
    expect(password.length).toBeGreaterThan(8);
    expect(JSON.stringify(await browserSide(page))).not.toContain(password);

    const events = await h.api.get('/v1/audit/events').query({ action: 'grant.password-revealed', deviceId: 'laptop-7' }).set(bearer(auditorToken));
    expect(events.status).toBe(200);
    // The clicks before each step-up: refused for want of the context, audited as denied reveals; the one after it, revealed.
    const ofGrant = (events.body.items as Array<{ target: string; seq: number }>).filter((e) => e.target === `grant:${grantId}`).sort((a, b) => a.seq - b.seq);
    const asAlice = expect.objectContaining({ kind: 'user', subject: alice.oid, name: alice.name, tenant: entra.tenantId });
    expect(ofGrant).toEqual([
      expect.objectContaining({ actor: asAlice, outcome: 'denied', reason: expect.stringMatching(/authentication context 'c1'/) }),
      expect.objectContaining({ actor: asAlice, outcome: 'denied', reason: expect.stringMatching(/authentication context 'c1'/) }),
      expect.objectContaining({ actor: asAlice, outcome: 'success' }),
    ]);
    expect(JSON.stringify(events.body)).not.toContain(password);
    await page.getByRole('button', { name: 'Hide' }).click();
  });

  it('a sign-in cancelled at Entra lands on /signed-out with the fixed message, nothing in the address but the fixed word', async () => {
    const page = await newPage();
    await page.goto(url + '/');
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign-in did not complete' }).waitFor();
    await page.getByText('The sign-in was cancelled or refused.').waitFor();
    expect(page.url()).toBe(`${url}/signed-out?error=access-denied`);
    expect(await page.context().cookies()).toEqual([]);
    // Signed in before? No: so the way on is to sign in, not back to the portal.
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).waitFor();
    expect(await page.getByText(/still signed in/).count()).toBe(0);
    expect((await historyUrls(page)).filter((e) => !e.startsWith(entra.base))).toEqual([url + '/', `${url}/signed-out?error=access-denied`]);
    expect(await page.evaluate(() => document.documentElement.textContent)).not.toContain('AADSTS');
    // Audited as a refused sign-in by nobody in particular, without Entra's own words.
    const failed = await h.api.get('/v1/audit/events').query({ action: 'auth.failed' }).set(bearer(auditorToken));
    const last = (failed.body.items as Array<{ seq: number }>).sort((a, b) => b.seq - a.seq)[0];
    expect(last).toMatchObject({ outcome: 'denied', actor: { kind: 'anonymous' }, details: { credential: 'portal', failure: 'access-denied' } });
    expect(JSON.stringify(failed.body)).not.toContain('AADSTS');
    expect(await seriousViolations(page)).toEqual([]);
  });
});
