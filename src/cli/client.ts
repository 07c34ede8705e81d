import { ProblemDocument } from '../problems/problem';
import { visible } from './output';

export class ClientError extends Error {
  constructor(
    message: string,
    readonly problem?: ProblemDocument,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  token?: string;
}

/**
 * Sends one request to the daemon and returns its response once it is a success; an unreachable
 * daemon, and an error answer (its problem document's detail), become a ClientError.
 */
async function send(opts: ClientOptions, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(new URL(path, opts.url), {
      method: init.method ?? 'GET',
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
  } catch (e) {
    throw new ClientError(`cannot reach ${opts.url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let problem: ProblemDocument | undefined;
    try {
      problem = JSON.parse(text) as ProblemDocument;
    } catch {
      problem = undefined;
    }
    // The detail can quote what a client sent: printed on the terminal, it is shown, not obeyed.
    throw new ClientError(visible(problem?.detail ?? `HTTP ${res.status}`), problem);
  }
  return res;
}

/** One HTTP call to the daemon; a problem document becomes a ClientError carrying its detail. */
export async function call(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const text = await (await send(opts, path, { method, body })).text();
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** A call whose answer is streamed (an export): the response, once it is known to be a success. */
export function callStream(opts: ClientOptions, path: string): Promise<Response> {
  return send(opts, path);
}
