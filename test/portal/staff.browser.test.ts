/// <reference lib="dom" />
// The functions these tests hand to page.evaluate run in the browser.
import { Browser, BrowserContext, Page } from 'playwright-core';
import { bearer } from '../support/bearer';
import { launchBrowser, screenshot, seriousViolations, stepTimeoutMs } from '../support/browser';
import { Role } from '../../src/identity/principal';
import { Labels, createPortalWorld, dutch, english, fillDevSignIn } from '../support/portal';
import { Scenario } from '../support/scenario';

/** Approvers and the escalation portal, in a real Chromium against the daemon (identity.mode local). */
// Each test is a person's whole errand in a browser: longer than a unit test's default.
jest.setTimeout(90_000);

describe('approvers and escalations in the portal', () => {
  let s: Scenario;
  let url: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
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
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  async function newPage(opts: { width?: number; locale?: string } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 900 }, locale: opts.locale ?? 'en-GB' });
    contexts.push(context);
    // A step that does not happen fails naming the step, long before the test's own timeout.
    context.setDefaultTimeout(stepTimeoutMs);
    return context.newPage();
  }

  /** Straight to the development sign-in page (the requester tests walk there from the start page), then back to `returnTo`. */
  async function signIn(page: Page, subject: string, roles: Role[], groups = '', returnTo = '/', l: Labels = english): Promise<void> {
    await page.goto(`${url}/dev-sign-in?returnTo=${encodeURIComponent(returnTo)}`);
    await fillDevSignIn(page, { subject, roles, groups }, l);
    await page.waitForURL((u) => u.pathname === returnTo);
    // The menu comes with the session: the page is ready once it shows.
    await page.getByRole('navigation').getByRole('link').first().waitFor();
  }

  const ask = async (who: string, reason: string) => {
    const res = await s.h.api
      .post('/v1/grants')
      .set(bearer(await s.h.token(who, ['requester', ...(who === 'carol' ? (['approver'] as const) : [])], ['helpdesk'])))
      .send({ deviceId: 'lab-0042', reason, duration: 'PT1H' });
    expect(res.status).toBe(201);
    return (res.body as { id: string }).id;
  };

  it('shows an approver the requests they may decide (never their own), live, with the context to decide', async () => {
    const bobs = await ask('bob', 'replace the bench firmware');
    await ask('carol', 'my own request, not mine to approve');
    const page = await newPage();
    await signIn(page, 'carol', ['requester', 'approver'], 'helpdesk', '/approvals');
    const queue = page.getByRole('list', { name: 'Requests to decide' });
    await queue.getByRole('heading', { name: 'bob asks for lab-0042' }).waitFor();
    expect(await queue.getByRole('listitem').count()).toBe(1);

    // A new request appears by itself; one another approver decides leaves by itself.
    const erins = await ask('erin', 'calibrate the bench');
    await queue.getByRole('heading', { name: 'erin asks for lab-0042' }).waitFor({ timeout: stepTimeoutMs });
    await s.h.api.post(`/v1/grants/${erins}/approve`).set(bearer(s.tokens.approver)).send({}).expect(200);
    await queue.getByRole('heading', { name: 'erin asks for lab-0042' }).waitFor({ state: 'detached', timeout: stepTimeoutMs });

    const card = queue.getByRole('listitem').filter({ hasText: 'bob asks for lab-0042' });
    await card.getByRole('button', { name: 'Show earlier requests on this device' }).click();
    await card
      .getByRole('list', { name: 'Earlier requests on lab-0042' })
      .getByText(/calibrate the bench/)
      .waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'approvals-en-1280');
    await card.getByLabel('Comment').fill('firmware change approved in CAB');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Nothing waits for you. New requests appear here by themselves.').waitFor();
    const decided = await s.h.api.get(`/v1/grants/${bobs}`).set(bearer(s.tokens.auditor));
    expect(decided.body).toMatchObject({ state: 'active', decidedBy: 'carol', decisionComment: 'firmware change approved in CAB' });
  });

  it("refuses the approvers', auditors' and admins' pages to a requester: the API says no, not only the menu", async () => {
    const page = await newPage();
    await signIn(page, 'bob', ['requester'], 'helpdesk');
    const menu = page.getByRole('navigation');
    expect(await menu.getByRole('link').allTextContents()).toEqual(['My access', 'Escalations']);
    for (const [path, role] of [
      ['/approvals', 'approver'],
      ['/audit', 'auditor'],
      ['/devices', 'admin'],
      ['/policies', 'admin'],
    ] as const) {
      await page.goto(url + path);
      await page
        .getByText(new RegExp(`needs the ${role}( or [a-z]+)* role`))
        .first()
        .waitFor();
    }
  });

  it('lets an auditor verify the chain, search, open an event and download an export (itself audited)', async () => {
    const page = await newPage();
    await signIn(page, 'dave', ['auditor'], '', '/audit');
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByText(/^The chain is intact: \d+ events\. No signed checkpoint vouches for it yet\./).waitFor();
    // Once a checkpoint is signed, the same check says how far the signature reaches.
    await s.h.api.post('/v1/audit/checkpoints').set(bearer(s.tokens.auditor)).send({}).expect(201);
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.getByText(/^The chain is intact: \d+ events\. A signed checkpoint vouches for every event up to \d+ \(signatures checked: 1\); written since: [01]\./).waitFor();
    await page.getByLabel('Action').fill('grant.requested');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const table = page.getByRole('table', { name: 'Audit events, in the order they were written' });
    await table.getByRole('cell', { name: 'grant.requested' }).first().waitFor();
    expect(await table.getByRole('cell', { name: 'grant.password-revealed' }).count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'audit-en-1280');
    await table
      .getByRole('button', { name: /^Open event \d+$/ })
      .first()
      .click();
    const dialog = page.getByRole('dialog', { name: /^Event \d+$/ });
    expect(await dialog.textContent()).toContain('"action": "grant.requested"');
    await dialog.getByRole('button', { name: 'Close' }).click();

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download as CSV' }).click();
    const file = await (await download).path();
    const csv = (await import('node:fs')).readFileSync(file, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/^seq,/);
    const exported = await s.h.api.get('/v1/audit/events').query({ action: 'audit.exported' }).set(bearer(s.tokens.auditor));
    expect(exported.body.items[0]).toMatchObject({ actor: { subject: 'dave' }, details: { format: 'csv' } });
  });

  it("shows an admin each device's password state, changes one now, retires one, and edits policies with the API's messages beside the fields", async () => {
    const page = await newPage();
    await signIn(page, 'root', ['admin'], '', '/devices');
    const table = page.getByRole('table', { name: 'Devices' });
    const laptop = table.getByRole('row').filter({ hasText: 'laptop-7' });
    await laptop.getByText(/^(Current|Change pending)$/).waitFor();
    await table.getByRole('row').filter({ hasText: 'lab-0042' }).getByText('Waiting for the agent').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'devices-en-1280');
    await laptop.getByRole('button', { name: 'Change now' }).click();
    await page.getByText('A password change for laptop-7 is queued.').waitFor();
    const device = await s.h.api.get('/v1/devices/laptop-7').set(bearer(s.tokens.admin));
    expect(device.body.rotation.queued).toMatchObject({ reason: 'manual' });
    // Narrowed by group: the API's own filter.
    await page.getByLabel('Device group').fill('lab');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await table.getByRole('row').filter({ hasText: 'laptop-7' }).waitFor({ state: 'detached' });
    const lab = table.getByRole('row').filter({ hasText: 'lab-0042' });
    await lab.getByRole('button', { name: 'Retire' }).click();
    const confirm = page.getByRole('dialog', { name: 'Retire lab-0042?' });
    await confirm.getByRole('button', { name: 'Retire' }).click();
    await page.getByText('lab-0042 is retired.').waitFor();
    await lab.getByText('Retired', { exact: true }).waitFor();
    expect((await s.h.api.get('/v1/devices/lab-0042').set(bearer(s.tokens.admin))).body.status).toBe('retired');

    await page.getByRole('link', { name: 'Policies' }).click();
    await page.getByRole('heading', { level: 1, name: 'Policies' }).waitFor();
    await page.getByRole('button', { name: 'New policy' }).click();
    await page.getByLabel('Name').fill('night shift');
    await page.getByLabel('Groups designated').fill('nightshift');
    await page.getByLabel('Device groups').fill('finance-laptops');
    // A backreference: RE2 cannot run it in linear time, so the API refuses it and says why beside the field.
    await page.getByLabel('Ticket pattern').fill('(INC)\\1');
    await page.getByRole('button', { name: 'Save' }).click();
    // The message is the field's own: the input is marked invalid and described by the API's text.
    const pattern = page.getByLabel('Ticket pattern');
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
    expect(await pattern.getAttribute('aria-invalid')).toBe('true');
    const described = await pattern.evaluate((el) =>
      (el.getAttribute('aria-describedby') ?? '')
        .split(' ')
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' '),
    );
    const refused = await s.h.api
      .post('/v1/policies')
      .set(bearer(s.tokens.admin))
      .send({ name: 'x', principals: { groups: ['x'] }, deviceGroups: ['x'], maxDuration: 'PT1H', ticketPattern: '(INC)\\1' });
    expect(described).toContain((refused.body.errors as Array<{ path: string; message: string }>).find((e) => e.path.endsWith('ticketPattern'))?.message);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'policy-form-error-en-1280');
    await page.getByLabel('Ticket pattern').fill('INC[0-9]{6}');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Policy night shift saved.').waitFor();
    await page.getByRole('heading', { name: 'night shift' }).waitFor();
    const saved = await s.h.api.get('/v1/policies').set(bearer(s.tokens.admin));
    expect((saved.body.items as Array<{ name: string; ticketPattern?: string }>).find((p) => p.name === 'night shift')).toMatchObject({ ticketPattern: 'INC[0-9]{6}' });
  });

  it('files a Sev C escalation after showing where it goes; an admin moves it and the filer sees it', async () => {
    const page = await newPage({ locale: 'nl-NL', width: 390 });
    await signIn(page, 'alice', ['requester'], 'helpdesk', '/escalations', dutch);
    await page.getByText(/Voor ernst A of B neemt u contact op met uw IT-beheerder/).waitFor();
    await page.getByRole('combobox', { name: /Categorie/ }).click();
    await page.getByRole('option', { name: /Hardware → the hardware vendor/ }).click();
    await page.getByText('Gaat naar the hardware vendor.').waitFor();
    await page.getByLabel('Samenvatting').fill('Dockingstation geeft geen beeld');
    await page.getByLabel('Apparaat (optioneel)').fill('laptop-7');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'escalations-nl-390');
    await page.getByRole('button', { name: 'Escalatie versturen' }).click();
    await page.getByText('Verstuurd naar the hardware vendor.').waitFor();
    await page.getByRole('heading', { name: 'Dockingstation geeft geen beeld' }).waitFor();

    const admin = await newPage();
    await signIn(admin, 'root', ['admin'], '', '/escalations');
    const card = admin.getByRole('listitem').filter({ hasText: 'Dockingstation geeft geen beeld' });
    await card.getByLabel('Note').fill('vendor ticket V-1234');
    await card.getByRole('button', { name: 'Acknowledge' }).click();
    await card.getByText('Acknowledged').waitFor();
    await screenshot(admin, 'escalations-admin-en-1280');
    // The filer's page follows by itself.
    await page.getByText('In behandeling', { exact: true }).waitFor({ timeout: stepTimeoutMs });
    await page.getByText('vendor ticket V-1234').waitFor();
  });

  it('tells someone not designated to file why, and offers no form', async () => {
    const page = await newPage();
    await signIn(page, 'dave', ['auditor'], '', '/escalations');
    await page.getByText(/not designated to file escalations/).waitFor();
    expect(await page.getByRole('button', { name: 'Send escalation' }).count()).toBe(0);
  });
});
