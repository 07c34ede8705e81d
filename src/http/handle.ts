import crypto from 'node:crypto';
import { NextFunction, Request, RequestHandler, Response } from 'express';
import { RequestContext } from '../audit/audit-event';
import { DevicePrincipal, UserPrincipal } from '../identity/principal';
import { DomainError } from '../problems/problem';
import { timeOrderedId } from '../store/ids';
import { CookieChange, setCookie } from './cookies';

export interface Reply {
  status: number;
  body?: unknown;
  /** Set on every response that carries a password. */
  noStore?: boolean;
  /** A body already serialised as JSON (sent as is, instead of `body`). */
  json?: string;
  /** A body in another content type, sent as is (the metrics text). */
  text?: { type: string; body: string };
  /** A body written a line at a time, in constant memory whatever its length (the audit export). */
  stream?: { type: string; headers?: Record<string, string>; lines: AsyncIterable<string> };
  /** Cookies set or cleared, by name (the portal's session and sign-in cookies). */
  cookies?: Record<string, CookieChange>;
  /** Sends the browser on (the portal's sign-in): `status` 302 or 303 with this Location, no body. */
  redirect?: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    context: RequestContext;
    user?: UserPrincipal;
    device?: DevicePrincipal;
  }
}

const validRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Mints this request's id (the one in X-Request-Id, the logs, problem documents and audit
 * `requestId`) and records who is calling from where. An X-Request-Id the client offers is kept
 * apart, as `clientRequestId`, and echoed in X-Client-Request-Id when it is sane: were it used as
 * the request id, any client could file its events under another request's id.
 */
export function requestContext(req: Request, res: Response, next: NextFunction): void {
  const offered = req.get('x-request-id');
  const clientRequestId = offered && validRequestId.test(offered) ? offered : undefined;
  const requestId = timeOrderedId();
  // req.ip honours http.trustProxy (the address X-Forwarded-For names behind a load balancer), as the rate limits do.
  req.context = { requestId, clientRequestId, clientAddress: req.ip ?? req.socket.remoteAddress, userAgent: req.get('user-agent')?.slice(0, 256) };
  res.setHeader('X-Request-Id', requestId);
  if (clientRequestId) res.setHeader('X-Client-Request-Id', clientRequestId);
  next();
}

/** Runs a route body; anything thrown goes to the one error handler. No try in routes. */
export function handle(fn: (req: Request) => Promise<Reply>, opts: { etag?: boolean } = {}): RequestHandler {
  return (req, res, next) => {
    // Express answers 304 to `If-None-Match: *` on any GET it sends: a reveal, audited and marked used,
    // would reach nobody. Only a route that tags its answers decides what is fresh.
    if (!opts.etag) delete req.headers['if-none-match'];
    fn(req)
      .then((reply) => send(res, opts.etag ? withEtag(req, res, reply) : reply))
      .catch((e: unknown) => {
        // Before the first byte a problem document can still be sent; after it, only cutting the stream tells the client.
        if (res.headersSent) res.destroy(e instanceof Error ? e : undefined);
        else next(e);
      });
  };
}

/**
 * A 200 JSON answer with its weak ETag (a hash of the body as sent), or 304 with no body when the
 * client's If-None-Match names it (or is `*`). Never cached by anyone: a poller sends If-None-Match
 * itself, and a grant's state must not be served stale from a cache in between.
 */
function withEtag(req: Request, res: Response, reply: Reply): Reply {
  if (reply.status !== 200 || reply.body === undefined) return reply;
  const json = JSON.stringify(reply.body);
  const etag = `W/"${crypto.createHash('sha256').update(json).digest('base64url')}"`;
  res.setHeader('ETag', etag);
  const offered = req.get('if-none-match');
  // Weak comparison (RFC 9110 §13.1.2): W/ is ignored on both sides.
  const fresh = offered !== undefined && offered.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === etag.slice(2));
  return fresh ? { status: 304, noStore: true } : { status: 200, noStore: true, json };
}

async function send(res: Response, reply: Reply): Promise<void> {
  if (reply.noStore) res.setHeader('Cache-Control', 'no-store');
  for (const [name, change] of Object.entries(reply.cookies ?? {})) setCookie(res, name, change);
  if (reply.redirect !== undefined) return void res.status(reply.status).location(reply.redirect).end();
  if (reply.stream) return sendLines(res, reply.status, reply.stream);
  if (reply.json !== undefined) res.status(reply.status).type('application/json').send(reply.json);
  else if (reply.text !== undefined) res.status(reply.status).set('content-type', reply.text.type).send(reply.text.body);
  else if (reply.body === undefined) res.status(reply.status).end();
  else res.status(reply.status).json(reply.body);
}

async function sendLines(res: Response, status: number, stream: NonNullable<Reply['stream']>): Promise<void> {
  res.status(status);
  res.setHeader('Content-Type', stream.type);
  for (const [name, value] of Object.entries(stream.headers ?? {})) res.setHeader(name, value);
  let aborted = false;
  res.once('close', () => (aborted = true));
  for await (const line of stream.lines) {
    if (aborted) return;
    if (!res.write(line)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

export function userOf(req: Request): UserPrincipal {
  if (!req.user) throw new DomainError('unauthenticated', 'A bearer token is required.');
  return req.user;
}

export function deviceOf(req: Request): DevicePrincipal {
  if (!req.device) throw new DomainError('unauthenticated', 'A device token is required.');
  return req.device;
}
