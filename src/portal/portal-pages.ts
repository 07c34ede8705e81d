import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express, { NextFunction, Request, Response, Router } from 'express';
import { DomainError } from '../problems/problem';

/**
 * Where `npm run build` puts the portal (Vite, web/ → dist/web): found from the package root, so the
 * daemon finds it whether it runs from dist/ or, in the tests, from src/.
 */
function defaultPortalDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.join(__dirname, '..', 'web');
    dir = parent;
  }
  return path.join(dir, 'dist', 'web');
}

const noncePlaceholder = '__CSP_NONCE__';

/**
 * The page's Content-Security-Policy: scripts and styles from the daemon's own origin only, plus
 * the <style> elements Fluent UI's style engine creates at run time, admitted by this response's
 * nonce alone. No 'unsafe-inline', no 'unsafe-eval': an injected script or style does not run.
 */
function pagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Paths the portal never answers with its page: the API keeps its JSON 404 (the operator endpoints are answered before the portal). */
const notPages = /^\/(v1|assets)(\/|$)/;

/**
 * The built page, or undefined when the portal was not built. One without the nonce placeholder
 * refuses the start: served, its Fluent UI styles would all be refused by the CSP.
 */
function readPage(file: string): string | undefined {
  let html: string;
  try {
    html = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  if (!html.includes(noncePlaceholder)) throw new Error(`${file} has no ${noncePlaceholder} to fill`);
  return html;
}

/**
 * The portal, served by the daemon: its hashed assets, cached for a year (a new build has new
 * names), and its one page, with a nonce minted per response and never cached (the nonce must not
 * be reused). Any other GET a browser sends for a page gets the page too: the portal's own router
 * shows what lives at that path, or its not-found page.
 */
export function portalPages(opts: { dir?: string } = {}): Router {
  const dir = opts.dir ?? defaultPortalDir();
  const r = Router({ caseSensitive: true, strict: true });
  // Read once: the build does not change under a running daemon, and no request waits on the disk.
  const html = readPage(path.join(dir, 'index.html'));
  r.use(
    '/assets',
    (_req, res, next) => {
      res.locals.routeLabel = '(portal asset)';
      next();
    },
    express.static(path.join(dir, 'assets'), {
      index: false,
      redirect: false,
      dotfiles: 'deny',
      immutable: true,
      maxAge: '365d',
    }),
  );
  // Middleware, not a route: a request it passes on stays unmatched (the API's 404, its metric label).
  r.use((req: Request, res: Response, next: NextFunction) => {
    // A browser asks for HTML first; an API client (JSON, or anything) keeps the API's problem document.
    if ((req.method !== 'GET' && req.method !== 'HEAD') || notPages.test(req.path) || req.accepts(['json', 'html']) !== 'html') return next();
    if (html === undefined) return next(new DomainError('not-found', 'The portal is not built here (npm run build builds it); the API is served under /v1.'));
    res.locals.routeLabel = '(portal page)';
    const nonce = crypto.randomBytes(16).toString('base64');
    res.setHeader('Content-Security-Policy', pagePolicy(nonce));
    // A page holds a nonce, and later the signed-in user's data: never stored by a browser or a proxy.
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(html.replaceAll(noncePlaceholder, nonce));
  });
  return r;
}
