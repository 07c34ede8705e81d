/// <reference lib="dom" />
// The functions these tests hand to page.evaluate run in the browser.
import { Browser, BrowserContext, Page } from 'playwright-core';
import { TestApp, createTestApp } from '../support/test-app';
import { launchBrowser, screenshot, seriousViolations } from '../support/browser';

const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('the portal is served by the daemon, with a strict CSP', () => {
  let h: TestApp;
  beforeAll(async () => {
    h = await createTestApp();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers a browser at / with the page: a nonce of its own per response, no inline script or style admitted, never cached', async () => {
    const [a, b] = [await h.api.get('/').set('accept', browserAccept), await h.api.get('/').set('accept', browserAccept)];
    for (const res of [a, b]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-store');
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
      expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
      expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
      const nonce = /style-src 'self' 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
      expect(nonce).toBeDefined();
      expect(res.text).toContain(`<meta name="csp-nonce" content="${nonce}" />`);
      expect(res.text).not.toContain('__CSP_NONCE__');
      // No inline script: every script the page has is loaded from the daemon's own origin.
      expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
    expect(a.headers['content-security-policy']).not.toBe(b.headers['content-security-policy']);
  });

  it('serves hashed assets cached for a year, and keeps the API and its problem documents for everyone else', async () => {
    const page = await h.api.get('/').set('accept', browserAccept);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)?.[1] as string;
    expect(asset).toMatch(/^\/assets\/index-[\w-]{8,}\.js$/);
    const js = await h.api.get(asset);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');

    for (const [path, accept] of [
      ['/', 'application/json'],
      ['/', '*/*'],
      ['/v1/nothing-here', browserAccept],
      ['/assets/no-such-file.js', browserAccept],
    ] as const) {
      const res = await h.api.get(path).set('accept', accept);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('not-found');
    }
  });
});

describe('the portal in a browser', () => {
  let h: TestApp;
  let url: string;
  let browser: Browser;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    h = await createTestApp();
    url = await h.listen();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await h.close();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  /** A new browser context (its own storage) at a window width and language, with the page's CSP violations collected. */
  async function open(path: string, opts: { width?: number; locale?: string } = {}): Promise<{ page: Page; violations: string[] }> {
    context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 800 }, locale: opts.locale ?? 'en-GB' });
    const page = await context.newPage();
    const violations: string[] = [];
    await page.exposeFunction('reportViolation', (v: string) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { reportViolation(v: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    await page.goto(url + path);
    await page.getByRole('heading', { level: 1 }).waitFor();
    return { page, violations };
  }

  it('shows the start page in the browser’s language, at desktop and phone widths, with no CSP violation and nothing axe calls serious', async () => {
    for (const [locale, heading] of [
      ['en-GB', 'Sign in to the portals'],
      ['nl-NL', 'Aanmelden bij de portalen'],
    ] as const) {
      for (const width of [1280, 390]) {
        const { page, violations } = await open('/', { width, locale });
        await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(heading);
        expect(await page.evaluate(() => document.documentElement.lang)).toBe(locale.slice(0, 2));
        // Fluent UI's styles were admitted by the nonce: the header has its brand colour, not a bare page.
        expect(await page.locator('header').evaluate((e) => getComputedStyle(e).backgroundColor)).not.toBe('rgba(0, 0, 0, 0)');
        expect(await seriousViolations(page)).toEqual([]);
        expect(violations).toEqual([]);
        await screenshot(page, `start-${locale.slice(0, 2)}-${width}`);
        await context?.close();
      }
    }
  });

  it('switches language by keyboard alone, and keeps the choice', async () => {
    const { page } = await open('/');
    await page.getByRole('combobox', { name: 'Language' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('option', { name: 'Nederlands' }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Aanmelden bij de portalen');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('nl');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Aanmelden bij de portalen' }).waitFor();
    expect(await page.getByRole('combobox', { name: 'Taal' }).textContent()).toContain('Nederlands');
  });

  it('refuses a style or script the page did not bring: the CSP is enforced, not only sent', async () => {
    const { page } = await open('/');
    // Resolves once the browser has reported both refusals.
    const refused = await page.evaluate(
      () =>
        new Promise<string[]>((resolve) => {
          const seen: string[] = [];
          document.addEventListener('securitypolicyviolation', (e) => {
            seen.push(e.violatedDirective);
            if (seen.length === 2) resolve(seen.sort());
          });
          const style = document.createElement('style');
          style.textContent = 'body { background: red }';
          document.head.appendChild(style);
          const script = document.createElement('script');
          script.textContent = 'window.injected = true';
          document.head.appendChild(script);
        }),
    );
    expect(refused).toEqual(['script-src-elem', 'style-src-elem']);
    expect(await page.evaluate(() => (window as unknown as { injected?: boolean }).injected)).toBeUndefined();
  });

  it('shows its own not-found page for a path it does not have', async () => {
    const { page } = await open('/no-such-page');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Page not found');
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'Go to the start page' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in to the portals' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
  });
});
