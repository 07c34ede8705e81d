/// <reference lib="dom" />
/**
 * The portal's weight and speed, in a real headless Chromium on loopback:
 * - the JavaScript the signed-out landing page loads, gzipped (budget: 200 kB);
 * - its largest contentful paint, over fresh browser contexts (budget: 1.0 s), against the same
 *   measure for a one-heading HTML page served by node:http in the same run (the floor: what the
 *   browser and loopback cost with no application at all).
 * `npm run bench:portal` (builds first). The reveal's click-to-visible time comes with the reveal page.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { AddressInfo } from 'node:net';
import { Browser } from 'playwright-core';
import { launchBrowser } from '../test/support/browser';
import { startServe, stop } from './daemon-process';
import { machine } from './machine';
import { pct } from './percentile';

const loads = Number(process.env.BENCH_LOADS ?? 15);
const jsBudgetKb = 200;
const lcpBudgetMs = 1000;

/** Loads `url` in a new context `loads` times; each load's LCP (ms), and the JS bytes (gzipped) of the last. */
async function measure(browser: Browser, url: string, heading: RegExp): Promise<{ lcp: number[]; jsGzipBytes: number; scripts: string[] }> {
  const lcp: number[] = [];
  let jsGzipBytes = 0;
  let scripts: string[] = [];
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    const page = await context.newPage();
    const js: Array<Promise<{ url: string; bytes: number }>> = [];
    page.on('response', (res) => {
      if (/javascript/.test(res.headers()['content-type'] ?? ''))
        js.push(res.body().then((b) => ({ url: new URL(res.url()).pathname, bytes: zlib.gzipSync(b, { level: 9 }).length })));
    });
    await page.goto(url);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    lcp.push(
      await page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            new PerformanceObserver((list) => {
              const entries = list.getEntries();
              resolve((entries[entries.length - 1] as PerformanceEntry).startTime);
            }).observe({ type: 'largest-contentful-paint', buffered: true });
          }),
      ),
    );
    const loaded = await Promise.all(js);
    jsGzipBytes = loaded.reduce((n, s) => n + s.bytes, 0);
    scripts = loaded.map((s) => `${s.url} ${(s.bytes / 1024).toFixed(1)} kB`);
    await context.close();
  }
  return { lcp, jsGzipBytes, scripts };
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  console.log(`load: ${loads} loads of each page, each in a new browser context (cold cache), headless Chromium on loopback`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbroker-bench-portal-'));
  const env = { ...process.env, JITBROKER_DATA_DIR: path.join(dir, 'data'), JITBROKER_PORT: '0' };
  const daemon = await startServe(path.join(dir, 'daemon.log'), env);
  const floor = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>floor</title></head><body><h1>Sign in to the portals</h1></body></html>');
  });
  await new Promise<void>((resolve) => floor.listen(0, '127.0.0.1', resolve));
  const browser = await launchBrowser();
  try {
    const portal = await measure(browser, daemon.url, /Sign in to the portals/);
    const bare = await measure(browser, `http://127.0.0.1:${(floor.address() as AddressInfo).port}/`, /Sign in to the portals/);
    const kb = portal.jsGzipBytes / 1024;
    console.log(`landing page JavaScript: ${kb.toFixed(1)} kB gzipped (budget ${jsBudgetKb} kB): ${portal.scripts.join(', ')}`);
    const line = (name: string, xs: number[]) => `${name}: LCP median ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
    console.log(line('portal start page', portal.lcp) + ` (budget ${lcpBudgetMs} ms)`);
    console.log(line('floor (one heading, node:http)', bare.lcp));
    console.log(`ratio (portal / floor): LCP median ${(pct(portal.lcp, 50) / pct(bare.lcp, 50)).toFixed(2)}×`);
    if (kb > jsBudgetKb || pct(portal.lcp, 50) > lcpBudgetMs) process.exitCode = 1;
  } finally {
    await browser.close();
    floor.close();
    await stop(daemon.proc);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
