import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { serverClasses } from '../../src/http/server-classes';

type Seen = { request: unknown; response: unknown; isRequest: boolean; isResponse: boolean };

/** A listening server for `app`; what node made for each request, seen before express handles it. */
async function serve(app: express.Express, options: http.ServerOptions) {
  const born: Seen[] = [];
  const server = http.createServer(options, app);
  // Runs before express, which is the first 'request' listener.
  server.prependListener('request', (req, res) =>
    born.push({
      request: Object.getPrototypeOf(req),
      response: Object.getPrototypeOf(res),
      isRequest: req instanceof http.IncomingMessage,
      isResponse: res instanceof http.ServerResponse,
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { born, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function appWithRoute() {
  const app = express();
  const locals: object[] = [];
  app.use(express.json());
  app.post('/echo/:id', (req, res) => {
    locals.push(res.locals);
    // express's own request and response methods and properties, through the prototypes.
    res
      .status(201)
      .set('X-Id', req.params.id)
      .json({
        body: req.body as unknown,
        query: req.query,
        ip: req.ip,
        json: req.is('json'),
        linked: req.app === app && res.app === app && req.res === res && res.req === req,
        ownLocals: Object.hasOwn(res, 'locals'),
      });
  });
  return { app, locals };
}

const post = (url: string, body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('serverClasses: requests and responses born with the express app prototypes', () => {
  it("gives node's server classes whose objects have app.request and app.response as prototypes, and express works on them", async () => {
    const { app, locals } = appWithRoute();
    const s = await serve(app, serverClasses(app));
    try {
      const res = await post(`${s.url}/echo/7?x=1`, '{"a":1}');
      expect(res.status).toBe(201);
      expect(res.headers.get('x-id')).toBe('7');
      expect(await res.json()).toEqual({ body: { a: 1 }, query: { x: '1' }, ip: '127.0.0.1', json: 'json', linked: true, ownLocals: true });
      expect((await post(`${s.url}/echo/8`, '{}')).status).toBe(201);
      expect(s.born).toEqual([
        { request: app.request, response: app.response, isRequest: true, isResponse: true },
        { request: app.request, response: app.response, isRequest: true, isResponse: true },
      ]);
      // Each response has its own locals, not one shared through the prototype.
      expect(locals).toHaveLength(2);
      expect(locals[0]).not.toBe(locals[1]);
    } finally {
      await s.close();
    }
  });

  it('without them node makes its own objects, which express then re-prototypes (the cost this avoids)', async () => {
    const { app } = appWithRoute();
    const s = await serve(app, {});
    try {
      expect((await post(`${s.url}/echo/1`, '{}')).status).toBe(201);
      expect(s.born[0]?.request).toBe(http.IncomingMessage.prototype);
      expect(s.born[0]?.response).toBe(http.ServerResponse.prototype);
    } finally {
      await s.close();
    }
  });

  it("gives no classes (node keeps its own) when either of node's constructors cannot be called on a new object", () => {
    const bases = (IncomingMessage: unknown, ServerResponse: unknown) => ({ IncomingMessage, ServerResponse }) as unknown as Parameters<typeof serverClasses>[1];
    // An ES class throws when called without new.
    class ClassRequest extends http.IncomingMessage {}
    class ClassResponse extends http.ServerResponse {}
    // A function that builds its own object when called without new leaves the new object bare.
    function SelfMadeRequest(this: unknown, socket: never) {
      if (!new.target) return new http.IncomingMessage(socket);
      http.IncomingMessage.call(this, socket);
    }
    expect(serverClasses(express(), bases(ClassRequest, ClassResponse))).toEqual({});
    expect(serverClasses(express(), bases(http.IncomingMessage, ClassResponse))).toEqual({});
    expect(serverClasses(express(), bases(ClassRequest, http.ServerResponse))).toEqual({});
    expect(serverClasses(express(), bases(SelfMadeRequest, http.ServerResponse))).toEqual({});
    expect(Object.keys(serverClasses(express()))).toEqual(['IncomingMessage', 'ServerResponse']);
    expect(Object.keys(serverClasses(express(), bases(http.IncomingMessage, http.ServerResponse)))).toEqual(['IncomingMessage', 'ServerResponse']);
  });
});
