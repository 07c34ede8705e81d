import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Config } from '../config/config-schema';
import { answerClientError } from './client-error';
import { serverClasses } from './server-classes';

export interface HttpServer {
  url: string;
  /** Stops taking connections, lets requests in flight finish (at most `graceSeconds`), then closes every socket. */
  close(graceSeconds: number): Promise<void>;
}

/** Serves the app on http.host and http.port, over TLS when http.tls is set; resolves once it listens. */
export async function listenHttp(app: Express, settings: Config['http']): Promise<HttpServer> {
  // Slow clients cannot hold sockets open: headers within http.headersTimeoutSeconds, the whole
  // request within http.requestTimeoutSeconds (then 408 and the socket closes). Node enforces both
  // only when it sweeps the connections (every 30 s by default): sweep often enough that a timeout
  // is overrun by a quarter at most.
  const timeouts = {
    headersTimeout: settings.headersTimeoutSeconds * 1000,
    requestTimeout: settings.requestTimeoutSeconds * 1000,
    // Node's default is 5 s; see http.keepAliveTimeoutSeconds in the config schema for why it is longer.
    keepAliveTimeout: settings.keepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: Math.max(250, (settings.headersTimeoutSeconds * 1000) / 4),
  };
  // Requests and responses born with express's prototypes (src/http/server-classes.ts).
  const options = { ...timeouts, ...serverClasses(app) };
  const server = settings.tls
    ? https.createServer({ cert: fs.readFileSync(settings.tls.cert), key: fs.readFileSync(settings.tls.key), ...options }, app)
    : http.createServer(options, app);
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `${settings.tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    async close(graceSeconds) {
      // Stop taking connections, let requests in flight finish, then close idle keep-alive sockets.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), graceSeconds * 1000);
      await closed;
      clearTimeout(grace);
    },
  };
}
