import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { serverClasses } from '../../src/http/server-classes';

/** A listening server for `app`; each request's and response's prototype as node made them, before express saw them. */
async function serve(app: express.Express, options: http.ServerOptions) {
  const born: { request: unknown; response: unknown }[] = [];
  const server = http.createServer(options, app);
  // Runs before express, which is the first 'request' listener.
  server.prependListener('request', (req, res) => born.push({ request: Object.getPrototypeOf(req), response: Object.getPrototypeOf(res) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { born, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function appWithRoute() {
  const app = express();
  app.use(express.json());
  app.post('/echo/:id', (req, res) => {
    // express's own request and response methods and properties, through the prototypes.
    res
      .status(201)
      .set('X-Id', req.params.id)
      .json({ body: req.body as unknown, query: req.query, ip: req.ip, json: req.is('json') });
  });
  return app;
}

describe('serverClasses: requests and responses born with the express app prototypes', () => {
  it("gives node's server classes whose objects have app.request and app.response as prototypes, and express works on them", async () => {
    const app = appWithRoute();
    const s = await serve(app, serverClasses(app));
    try {
      const res = await fetch(`${s.url}/echo/7?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-id')).toBe('7');
      expect(await res.json()).toEqual({ body: { a: 1 }, query: { x: '1' }, ip: '127.0.0.1', json: 'json' });
      expect(s.born).toHaveLength(1);
      expect(s.born[0]?.request).toBe(app.request);
      expect(s.born[0]?.response).toBe(app.response);
      expect(app.request instanceof http.IncomingMessage).toBe(true);
      expect(app.response instanceof http.ServerResponse).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('without them node makes its own objects, which express then re-prototypes (the cost this avoids)', async () => {
    const app = appWithRoute();
    const s = await serve(app, {});
    try {
      expect((await fetch(`${s.url}/echo/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(201);
      expect(s.born[0]?.request).toBe(http.IncomingMessage.prototype);
      expect(s.born[0]?.response).toBe(http.ServerResponse.prototype);
    } finally {
      await s.close();
    }
  });

  it('gives no classes (node keeps its own) when node ships ES classes, which cannot be called on a new object', () => {
    class IncomingMessage extends http.IncomingMessage {}
    class ServerResponse extends http.ServerResponse {}
    const bases = { IncomingMessage, ServerResponse } as unknown as Parameters<typeof serverClasses>[1];
    expect(serverClasses(express(), bases)).toEqual({});
    expect(Object.keys(serverClasses(express()))).toEqual(['IncomingMessage', 'ServerResponse']);
  });
});
