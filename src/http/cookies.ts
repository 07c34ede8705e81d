import { Request, Response } from 'express';

/**
 * The request's cookies by name (RFC 6265 §5.4: `name=value` pairs split by `;`). A name sent
 * twice keeps its first value, as browsers order the more specific cookie first; a value that is
 * not valid percent-encoding is kept as sent. Parsed here in a few lines rather than with the
 * `cookie` package, which is express's dependency and not ours.
 */
export function cookiesOf(req: Request): Readonly<Record<string, string>> {
  const header = req.get('cookie');
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name in out) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

/** A cookie a reply sets (`value`) or clears (`null`); the attributes every cookie shares are fixed by setCookie. */
export interface CookieChange {
  value: string | null;
  /** Strict for the session; Lax for the sign-in binding cookie, which must come back on Entra's cross-site redirect. */
  sameSite: 'strict' | 'lax';
  /** Omitted: a browser-session cookie (the server enforces the session's timeouts). */
  maxAgeSeconds?: number;
}

/**
 * Every cookie the daemon sets is a `__Host-` cookie: Secure, Path=/, no Domain (so no other host
 * or path can set or read one), and HttpOnly (no script on the page ever reads it).
 */
export function setCookie(res: Response, name: string, change: CookieChange): void {
  if (!name.startsWith('__Host-')) throw new Error(`cookie ${name} must be a __Host- cookie`);
  const attributes = { path: '/', httpOnly: true, secure: true, sameSite: change.sameSite } as const;
  if (change.value === null) res.clearCookie(name, attributes);
  else res.cookie(name, change.value, { ...attributes, ...(change.maxAgeSeconds !== undefined ? { maxAge: change.maxAgeSeconds * 1000 } : {}) });
}
