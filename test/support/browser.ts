import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { Browser, Page, chromium } from 'playwright-core';

/** The project root: the nearest folder above that holds the Chromium package (the tests run from test/, the benchmarks from dist-bench/). */
function projectRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'node_modules', '@sparticuz', 'chromium', 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('no node_modules/@sparticuz/chromium above ' + __dirname + ': run npm install');
  }
}
const root = projectRoot();
const chromiumVersion = (JSON.parse(fs.readFileSync(path.join(root, 'node_modules/@sparticuz/chromium/package.json'), 'utf8')) as { version: string }).version;

/**
 * Its own temp directory per version: @sparticuz/chromium unpacks into os.tmpdir() and reuses
 * whatever `chromium` it finds there, even another version's, which then dies at launch.
 */
const unpackDir = path.join(root, 'node_modules', '.cache', `sparticuz-chromium-${chromiumVersion}`);

/**
 * Two serverless scraping flags would hide the CSP, CORS and mixed-content faults these tests look
 * for; and in one process, closing a context ends the whole browser, where the tests want one
 * browser per file and a fresh context per test.
 */
const droppedArgs = new Set(['--disable-web-security', '--allow-running-insecure-content', '--single-process']);

/** Asks @sparticuz/chromium, with `dir` as its temp directory, where its Chromium is (unpacking it there if missing) and with which flags. */
function askChromium(dir: string): { executablePath: string; args: string[] } {
  const script = "import c from '@sparticuz/chromium'; console.log(JSON.stringify({ executablePath: await c.executablePath(), args: c.args }));";
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { ...process.env, TMPDIR: dir }, encoding: 'utf8' });
  return JSON.parse(out) as { executablePath: string; args: string[] };
}

/**
 * The Chromium that `npm install` brought (@sparticuz/chromium carries it inside the package),
 * unpacked on first use. Asked in a child process: the package is ESM only, and Jest runs CommonJS.
 */
function chromiumBuild(): { executablePath: string; args: string[] } {
  if (!fs.existsSync(path.join(unpackDir, 'chromium'))) {
    // Unpacked into a directory of this process's own, then moved into place by one rename: on a
    // fresh clone two browser test files start at once, and one would launch the binary the other
    // is still writing (spawn ETXTBSY). The loser of the rename drops its copy and uses the winner's.
    const staging = `${unpackDir}.${process.pid}.tmp`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    askChromium(staging);
    try {
      fs.renameSync(staging, unpackDir);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  return askChromium(unpackDir);
}

/**
 * How long one step (a click, a page, a text to appear) may take before its test fails naming it.
 * Far above what a step takes on a quiet machine, because on a fresh 2-core CI machine three
 * browser files may run at once beside the rest of the suite; far below a test's own timeout.
 */
export const stepTimeoutMs = 25_000;

/** One headless Chromium per test file; each test takes a new context. `extraArgs` are added to the build's own. */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  const build = chromiumBuild();
  return chromium.launch({
    executablePath: build.executablePath,
    args: [...build.args.filter((a) => !droppedArgs.has(a)), ...extraArgs],
    headless: true,
    // The fonts shipped with it, so a page renders alike on every machine, with or without system fonts.
    env: { ...process.env, TMPDIR: unpackDir, FONTCONFIG_PATH: path.join(unpackDir, 'fonts') },
  });
}

/** Where screenshots go: test-artifacts/ (git-ignored), one PNG per page, width and language. */
export const artifactsDir = path.join(root, 'test-artifacts', 'portal');

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Tabster (Fluent UI's focus manager) places `<i data-tabster-dummy aria-hidden tabindex=0>`
 * sentinels that hand focus on the moment they receive it; axe's aria-hidden-focus flags them. It
 * is a known false positive that Microsoft's own Accessibility Insights suppresses the same way:
 * only that rule, only on nodes carrying the attribute. Every other node of the rule still counts.
 */
const tabsterSentinel = (ruleId: string, html: string) => ruleId === 'aria-hidden-focus' && /^<i [^>]*data-tabster-dummy/.test(html);

/** The serious and critical accessibility violations axe-core finds on the page (WCAG 2.2 AA rules). */
export async function seriousViolations(page: Page): Promise<Array<{ id: string; impact: string; nodes: string[] }>> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact as string, nodes: v.nodes.filter((n) => !tabsterSentinel(v.id, n.html)).map((n) => n.target.join(' ')) }))
    .filter((v) => v.nodes.length > 0);
}
