import http from 'node:http';
import type { Express } from 'express';

type Bases = { IncomingMessage: typeof http.IncomingMessage; ServerResponse: typeof http.ServerResponse };

/**
 * Request and response classes for node's HTTP(S) server whose objects are born with the express
 * app's prototypes (`app.request`, `app.response`).
 *
 * Express gives every request and response those prototypes with `Object.setPrototypeOf` when it
 * starts handling them, and V8 handles that badly: objects of requests long answered stay
 * reachable until a scavenge, so many survive it and are promoted, and the old generation fills
 * with garbage that only a full collection removes. With an express hello-world under load
 * (`--trace-gc-nvp`), 25% of each scavenge survived and 2.5 MB went to the old generation per
 * scavenge; born with the prototypes, nothing survived, and it answered 2.7x as many requests.
 * Express's own `setPrototypeOf` then finds nothing to change.
 *
 * Node's classes are plain constructor functions, called here on the new object. Should a Node
 * release make them ES classes (which cannot be called that way), this returns no classes and
 * node's own are used: correct, only slower.
 */
export function serverClasses(app: Express, bases: Bases = http): Partial<Bases> {
  const isClass = (f: unknown) => /^class\b/.test(Function.prototype.toString.call(f));
  if (isClass(bases.IncomingMessage) || isClass(bases.ServerResponse)) return {};
  const BaseRequest = bases.IncomingMessage as unknown as (this: unknown, ...args: unknown[]) => void;
  const BaseResponse = bases.ServerResponse as unknown as (this: unknown, ...args: unknown[]) => void;
  function Request(this: unknown, ...args: unknown[]) {
    BaseRequest.apply(this, args);
  }
  Request.prototype = app.request;
  function Response(this: unknown, ...args: unknown[]) {
    BaseResponse.apply(this, args);
  }
  Response.prototype = app.response;
  return { IncomingMessage: Request as unknown as Bases['IncomingMessage'], ServerResponse: Response as unknown as Bases['ServerResponse'] };
}
