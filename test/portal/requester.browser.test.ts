/// <reference lib="dom" />
// The functions these tests hand to page.evaluate run in the browser.
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { bearer } from '../support/bearer';
import { launchBrowser, screenshot, seriousViolations, stepTimeoutMs } from '../support/browser';
import { Role } from '../../src/identity/principal';
import { Labels, createPortalWorld, dutch, english, fillDevSignIn } from '../support/portal';
import { Scenario } from '../support/scenario';

/**
 * A support engineer's day in the portal, in a real Chromium against the daemon: sign in on the
 * development page (identity.mode local), find a device as they type, ask, reveal, copy, end.
 */
// Each test is a person's whole errand in a browser: longer than a unit test's default.
jest.setTimeout(90_000);

describe('the requester in the portal', () => {
  let s: Scenario;
  let url: string;
  let browser: Browser;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    s = await createPortalWorld();
    url = await s.h.listen();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.h.close();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  async function newPage(opts: { width?: number; locale?: string; clock?: boolean } = {}): Promise<Page> {
    context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 900 }, locale: opts.locale ?? 'en-GB' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    // A step that does not happen fails naming the step, long before the test's own timeout.
    context.setDefaultTimeout(stepTimeoutMs);
    const page = await context.newPage();
    if (opts.clock) await page.clock.install();
    return page;
  }

  /** Signs in on the development page the way a person does: from the start page's button. */
  async function signIn(page: Page, subject: string, groups: string, roles: Role[] = ['requester'], l: Labels = english, checkPage = false): Promise<void> {
    await page.goto(url + '/');
    await page.getByRole('main').getByRole('link', { name: l.signIn }).click();
    await page.getByRole('heading', { level: 1, name: l.devTitle }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/dev-sign-in');
    if (checkPage) expect(await seriousViolations(page)).toEqual([]);
    await fillDevSignIn(page, { subject, roles, groups }, l);
    await page.getByRole('heading', { level: 1, name: l.myAccess }).waitFor();
  }

  const pageText = (page: Page) => page.evaluate(() => document.documentElement.textContent ?? '');

  it('finds a device as they type, requests, reveals on a click (masked, shown, copied, hidden), and ends the grant with one confirmed click', async () => {
    const page = await newPage();
    // The development sign-in page passes axe too, on the way.
    await signIn(page, 'alice', 'helpdesk', ['requester'], english, true);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'my-access-empty-en-1280');

    await page.getByRole('link', { name: 'Request access' }).click();
    await page.getByRole('heading', { level: 1, name: 'Request access' }).waitFor();
    await page.getByRole('combobox', { name: /Device/ }).fill('laptop');
    await page.getByRole('option', { name: /laptop-7/ }).click();
    await page.getByText('You may elevate here for up to 4 hours.').waitFor();
    await page.getByLabel('Reason').fill('printer driver for the finance team');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'request-en-1280');
    await page.getByRole('button', { name: 'Send request' }).click();

    await page.getByRole('heading', { level: 1, name: 'Access to laptop-7' }).waitFor();
    await page.getByText('Active', { exact: true }).waitFor();
    const grantId = new URL(page.url()).pathname.split('/')[2] as string;
    await page.getByRole('button', { name: 'Reveal password' }).click();
    await page.getByText('Account:').waitFor();
    // Masked: the page holds dots, not the password.
    expect(await pageText(page)).not.toContain(s.password);
    const [revealEvent] = (
      (await s.h.api.get('/v1/audit/events').query({ action: 'grant.password-revealed' }).set(bearer(s.tokens.auditor))).body as {
        items: Array<{ actor: { subject: string }; target: string }>;
      }
    ).items;
    expect(revealEvent).toMatchObject({ actor: { subject: 'alice' }, target: `grant:${grantId}` });

    await page.getByRole('button', { name: 'Show' }).click();
    expect(await page.getByTestId('password').textContent()).toBe(s.password);
    await page.getByRole('switch', { name: 'Spell it out' }).click();
    await page.getByRole('list', { name: 'The password, character by character' }).waitFor();
    expect(await page.getByRole('list', { name: 'The password, character by character' }).getByRole('listitem').count()).toBe(s.password.length);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'grant-revealed-en-1280');
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Password copied to the clipboard.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(s.password);
    await page.getByRole('button', { name: 'Hide' }).click();
    expect(await pageText(page)).not.toContain(s.password);
    // Nowhere in the browser's storage, the address or the history either.
    const kept = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, href: location.href, state: history.state as unknown }));
    expect(kept).not.toContain(s.password);

    await page.getByRole('button', { name: "I'm done" }).click();
    await page.getByRole('dialog', { name: 'End your access now?' }).waitFor();
    await page.getByRole('button', { name: 'End access' }).click();
    await page.getByText('Ended', { exact: true }).first().waitFor();
    expect(await pageText(page)).not.toContain(s.password);
    const grant = await s.h.api.get(`/v1/grants/${grantId}`).set(bearer(s.tokens.auditor));
    expect(grant.body).toMatchObject({ state: 'revoked', endedBy: 'alice' });

    // The post-use rotation: the device confirms the new password, and the timeline says so.
    // The daemon's clock is the harness's: past rotation.postUseDelay, the worker writes the new password for the agent.
    s.h.clock.advance(6 * 60 * 1000);
    expect(await s.h.rotations.runDueJobs()).toBe(1);
    await s.h.ackPending('laptop-7', s.key);
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline.getByText(/Password changed \(version 2\), confirmed by the device at \d\d:\d\d/).waitFor({ timeout: stepTimeoutMs });
    for (const text of [/Requested by alice/, /Password \(version 1\) revealed to alice/, /Ended \(done\)/]) await timeline.getByText(text).first().waitFor();
    await screenshot(page, 'grant-ended-en-1280');
  });

  it('shows a request waiting for an approver, in Dutch on a phone, and turns it active by itself when the approver approves', async () => {
    const page = await newPage({ locale: 'nl-NL', width: 390 });
    await signIn(page, 'bob', 'helpdesk', ['requester'], dutch);
    await screenshot(page, 'my-access-nl-390');
    await page.getByRole('link', { name: 'Toegang aanvragen' }).click();
    // Found by its display name, not its id.
    await page.getByRole('combobox', { name: /Apparaat/ }).fill('bench');
    await page.getByRole('option', { name: /Lab bench 42/ }).click();
    await page.getByText('Een goedkeurder moet de aanvraag eerst goedkeuren.', { exact: false }).waitFor();
    await page.getByLabel('Reden').fill('BIOS-update');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'request-nl-390');
    await page.getByRole('button', { name: 'Aanvraag versturen' }).click();
    await page.getByText('Wacht op goedkeuring', { exact: true }).waitFor();
    const grantId = new URL(page.url()).pathname.split('/')[2] as string;
    await screenshot(page, 'grant-pending-nl-390');

    const approved = await s.h.api.post(`/v1/grants/${grantId}/approve`).set(bearer(s.tokens.approver)).send({ comment: 'ok' });
    expect(approved.status).toBe(200);
    // No reload: the page polls and changes by itself.
    await page.getByText('Actief', { exact: true }).waitFor({ timeout: stepTimeoutMs });
    await page.getByRole('region', { name: 'Tijdlijn' }).getByText('Goedgekeurd door carol').waitFor({ timeout: stepTimeoutMs });
    await page.getByRole('button', { name: 'Wachtwoord tonen' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'grant-active-nl-390');
  });

  it('takes the password off the page a minute after it was revealed', async () => {
    const page = await newPage({ clock: true });
    await signIn(page, 'erin', 'helpdesk');
    await page.getByRole('link', { name: 'Request access' }).click();
    await page.getByRole('combobox', { name: /Device/ }).fill('laptop-7');
    await page.getByRole('option', { name: /laptop-7/ }).click();
    await page.getByLabel('Reason').fill('clean up a stuck install');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.getByRole('button', { name: 'Reveal password' }).click();
    await page.getByRole('button', { name: 'Show' }).click();
    const shown = (await page.getByTestId('password').textContent()) as string;
    expect(shown.length).toBeGreaterThan(8);
    await page.clock.fastForward(61_000);
    await page.getByText('The password was removed from the page. Reveal it again if you still need it.').waitFor();
    expect(await pageText(page)).not.toContain(shown);
    await page.getByRole('button', { name: 'Reveal password' }).waitFor();
  });

  it('after sign-out the session is over on the server, and Back shows none of its pages', async () => {
    const page = await newPage();
    await signIn(page, 'frank', 'helpdesk');
    const [cookie] = (await context!.cookies()).filter((c) => c.name === '__Host-jitbroker-session');
    // The cookie as the issue asks: a __Host- name, HttpOnly, Secure, SameSite=Strict, for the whole site, gone with the browser.
    expect(cookie).toMatchObject({ path: '/', httpOnly: true, secure: true, sameSite: 'Strict', expires: -1 });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.getByRole('link', { name: 'Request access' }).click();
    await page.getByRole('heading', { level: 1, name: 'Request access' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'You are signed out' }).waitFor();
    await screenshot(page, 'signed-out-en-1280');
    await page.goBack();
    await page.waitForLoadState('load');
    // Sign-out replaced the page it left in history; Back reaches the one before, which asks the daemon
    // again (no page is kept in the back/forward cache: no-store) and hears that nobody is signed in.
    await page.getByRole('heading', { level: 1, name: 'Sign in to the portals' }).waitFor();
    expect(await pageText(page)).not.toContain('frank');
    const replayed = await s.h.api.get('/v1/grants').set('cookie', `${cookie!.name}=${cookie!.value}`);
    expect(replayed.status).toBe(401);
  });

  it('refuses a state-changing request another origin makes the browser send with the session cookie', async () => {
    const page = await newPage();
    await signIn(page, 'grace', 'helpdesk');
    const asked = await s.h.api
      .post('/v1/grants')
      .set(bearer(await s.h.token('grace', ['requester'], ['helpdesk'])))
      .send({ deviceId: 'laptop-7', reason: 'cross-origin test', duration: 'PT1H' });
    expect(asked.status).toBe(201);
    const grantId = (asked.body as { id: string }).id;
    // Another origin on the same site (127.0.0.1, another port): SameSite=Strict still sends the cookie, so the Origin check must refuse.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form method="post" action="${url}/v1/grants/${grantId}/revoke"></form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', () => resolve()));
    try {
      const answered = page.waitForResponse((r) => r.url().endsWith(`/v1/grants/${grantId}/revoke`));
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const res = await answered;
      expect(res.status()).toBe(403);
      expect(((await res.request().allHeaders()) as Record<string, string>).cookie ?? '').toContain('__Host-jitbroker-session=');
    } finally {
      evil.close();
    }
    const grant = await s.h.api.get(`/v1/grants/${grantId}`).set(bearer(s.tokens.auditor));
    expect(grant.body.state).toBe('active');
  });

  /** Presses Tab until `target` has the focus (WCAG 2.1.1: every control is reached from the keyboard), failing after `max` presses. */
  async function tabTo(page: Page, target: Locator, max = 40): Promise<void> {
    for (let i = 0; i < max; i++) {
      if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${target.toString()}`);
  }

  it('works by keyboard alone: sign in, request, reveal and show, end the grant', async () => {
    const page = await newPage();
    await page.goto(url + '/');
    await tabTo(page, page.getByRole('main').getByRole('link', { name: 'Sign in' }));
    await page.keyboard.press('Enter');
    await tabTo(page, page.getByLabel('User (subject)'));
    await page.keyboard.type('heidi');
    await tabTo(page, page.getByLabel('Groups'));
    await page.keyboard.type('helpdesk');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();

    await tabTo(page, page.getByRole('main').getByRole('link', { name: 'Request access' }));
    await page.keyboard.press('Enter');
    await tabTo(page, page.getByRole('combobox', { name: /Device/ }));
    await page.keyboard.type('laptop-7');
    await page.getByRole('option', { name: /laptop-7/ }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.getByText('You may elevate here for up to 4 hours.').waitFor();
    await tabTo(page, page.getByLabel('Reason'));
    await page.keyboard.type('keyboard only');
    await tabTo(page, page.getByRole('button', { name: 'Send request' }));
    await page.keyboard.press('Enter');

    await page.getByRole('heading', { level: 1, name: 'Access to laptop-7' }).waitFor();
    await tabTo(page, page.getByRole('button', { name: 'Reveal password' }));
    await page.keyboard.press('Enter');
    await tabTo(page, page.getByRole('button', { name: 'Show' }));
    await page.keyboard.press('Enter');
    expect(((await page.getByTestId('password').textContent()) ?? '').length).toBeGreaterThan(8);
    await tabTo(page, page.getByRole('button', { name: "I'm done" }));
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'End your access now?' }).waitFor();
    await tabTo(page, page.getByRole('button', { name: 'End access' }));
    await page.keyboard.press('Enter');
    await page.getByText('Ended', { exact: true }).first().waitFor();
  });
});
