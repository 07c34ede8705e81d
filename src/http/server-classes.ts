import http from 'node:http';
import type { Express } from 'express';

type Bases = { IncomingMessage: typeof http.IncomingMessage; ServerResponse: typeof http.ServerResponse };

/**
 * Request and response classes for node's HTTP(S) server whose objects are born with the express
 * app's prototypes (`app.request`, `app.response`).
 *
 * Express gives every request and response those prototypes with `Object.setPrototypeOf` when it
 * starts handling them, and V8 copes badly with that: measured with `--trace-gc-nvp` under load,
 * an express hello-world kept 25% of each scavenge alive and promoted 2.5 MB per scavenge to the
 * old generation, where only full collections free it; born with the prototypes, nothing survived
 * and it answered 2.7x as many requests. Express's own `setPrototypeOf` then finds the prototype
 * already set, and V8 returns without changing anything.
 *
 * Each class calls node's constructor function on the new object. Checked once, here: if node's
 * constructors cannot be called that way (an ES class throws; one that builds its own object when
 * called without `new` leaves the new object bare), there are no classes and node's own are used:
 * correct, only slower.
 */
export function serverClasses(app: Express, bases: Bases = http): Partial<Bases> {
  const classes = { IncomingMessage: bornWith(bases.IncomingMessage, app.request), ServerResponse: bornWith(bases.ServerResponse, app.response) };
  try {
    // Node's constructors give every object own state (event and stream state at least).
    const request = new classes.IncomingMessage(undefined as never);
    const response = new classes.ServerResponse(request);
    if (Reflect.ownKeys(request).length === 0 || Reflect.ownKeys(response).length === 0) return {};
  } catch {
    return {};
  }
  return classes;
}

/** A constructor that runs `base` on the new object, whose prototype is `prototype`. */
function bornWith<C>(base: C, prototype: object): C {
  const init = base as unknown as (this: unknown, ...args: unknown[]) => void;
  function Born(this: unknown, ...args: unknown[]) {
    init.apply(this, args);
  }
  Born.prototype = prototype;
  return Born as unknown as C;
}
