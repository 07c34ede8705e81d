/**
 * The portal's one way to the daemon: same-origin fetches that carry the session cookie (HttpOnly:
 * this code never sees it), the CSRF token in a header on every state-changing call, and problem
 * documents turned into ApiError. Nothing here writes to any browser storage.
 */

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: readonly FieldError[] = [],
    /** The authentication context a claims challenge asks for (a reveal behind step-up). */
    readonly stepUp?: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
let onSessionEnded: (() => void) | undefined;

/** Called when the daemon says the session is over (a 401 that is not a step-up): the page then asks who is signed in. */
export function setOnSessionEnded(fn: (() => void) | undefined): void {
  onSessionEnded = fn;
}

/** Anything thrown, as an ApiError (a fetch that never reached the daemon is `network`). */
export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, 'network', String(e));
}

/**
 * The field errors of a problem document, by the form field they belong to: `body.principals.groups.0`
 * and `query.action` name the fields `principals` and `action`.
 */
export function fieldErrorsOf(e: ApiError | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const fe of e?.errors ?? []) out[fe.path.replace(/^(body|query|params)\./, '').split('.')[0] as string] ??= fe.message;
  return out;
}

/** A comma-separated field's items, trimmed, empty ones dropped. */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Set from /auth/session when signed in; sent as X-CSRF-Token with every request. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** The authentication context named by a claims challenge (`Bearer error="insufficient_claims", claims="<base64>"`). */
function stepUpOf(res: Response): string | undefined {
  const challenge = res.headers.get('www-authenticate') ?? '';
  const claims = /claims="([^"]+)"/.exec(challenge)?.[1];
  if (!claims) return undefined;
  try {
    const parsed = JSON.parse(atob(claims)) as { access_token?: { acrs?: { value?: string } } };
    return parsed.access_token?.acrs?.value;
  } catch {
    return undefined;
  }
}

async function problemOf(res: Response): Promise<ApiError> {
  let body: { code?: string; detail?: string; title?: string; errors?: FieldError[] } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not a problem document (a proxy's page): the status says enough.
  }
  return new ApiError(res.status, body.code ?? 'unavailable', body.detail ?? body.title ?? res.statusText, body.errors ?? [], res.status === 401 ? stepUpOf(res) : undefined);
}

/**
 * One call to the daemon, as every call makes it: the session cookie, never a cached answer, the
 * CSRF token; a daemon out of reach is `network`, an error answer its problem document (a 401 that
 * is not a step-up tells the page the session is over).
 */
async function call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      // On every request, reads too: a reveal is a GET that the daemon audits, so a forged one must fail as well.
      headers: { ...(csrfToken ? { 'x-csrf-token': csrfToken } : {}), ...headers },
      body,
    });
  } catch {
    throw new ApiError(0, 'network', 'The daemon cannot be reached.');
  }
  if (!res.ok && res.status !== 304) {
    const problem = await problemOf(res);
    if (problem.status === 401 && !problem.stepUp) onSessionEnded?.();
    throw problem;
  }
  return res;
}

async function request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body?: T; etag?: string }> {
  const res = await call(
    method,
    path,
    { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body === undefined ? undefined : JSON.stringify(body),
  );
  if (res.status === 304) return { status: 304, etag: res.headers.get('etag') ?? undefined };
  if (res.status === 204) return { status: 204 };
  return { status: res.status, body: (await res.json()) as T, etag: res.headers.get('etag') ?? undefined };
}

/** A GET of a text body (the audit export), made and refused as every call is. */
export async function getText(path: string): Promise<string> {
  return (await call('GET', path, {})).text();
}

export async function getJson<T>(path: string): Promise<T> {
  return (await request<T>('GET', path)).body as T;
}

/**
 * A GET that sends the last ETag: `undefined` when nothing changed since (304). A `background` one
 * (a poll nobody clicked for) says so, and does not keep an idle session alive.
 */
export async function getIfChanged<T>(path: string, etag: string | undefined, background = false): Promise<{ body?: T; etag?: string }> {
  const r = await request<T>('GET', path, undefined, { ...(etag ? { 'if-none-match': etag } : {}), ...(background ? { 'x-portal-background': '1' } : {}) });
  return r.status === 304 ? { etag } : { body: r.body, etag: r.etag };
}

export async function send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T | undefined> {
  return (await request<T>(method, path, body)).body;
}
