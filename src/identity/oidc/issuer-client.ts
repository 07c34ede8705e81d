import http from 'node:http';
import https from 'node:https';

export interface IssuerClient {
  /** The JSON body of a 200 answer to a GET; anything else (status, timeout, size, TLS, parse) throws. */
  getJson(url: string): Promise<unknown>;
}

/**
 * Reads the identity provider's metadata and keys: one deadline per request, a size cap, no
 * redirects followed, and, with `caPem`, that CA trusted by this client's own agent only (TLS
 * checks are never relaxed for the process).
 */
export function createIssuerClient(opts: { timeoutMs: number; caPem?: string | Buffer; maxBytes?: number }): IssuerClient {
  const agent = opts.caPem ? new https.Agent({ ca: opts.caPem }) : undefined;
  const maxBytes = opts.maxBytes ?? 1024 * 1024;

  function getJson(url: string): Promise<unknown> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:') return Promise.reject(new Error(`${url}: not an http(s) URL`));
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(opts.timeoutMs) };
      if (secure && agent) options.agent = agent;
      const req = (secure ? https : http).get(u, options, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`${url} answered HTTP ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) req.destroy(new Error(`${url} answered more than ${maxBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
          } catch {
            reject(new Error(`${url} did not answer JSON`));
          }
        });
      });
      req.on('error', (e: Error) => reject(e.name === 'AbortError' ? new Error(`${url} did not answer within ${opts.timeoutMs} ms`) : e));
    });
  }

  return { getJson };
}
