import { ProblemDocument } from '../problems/problem';

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

/** One HTTP call to the daemon; a problem document becomes a ClientError carrying its detail. */
export async function call(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, opts.url), {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ClientError(`cannot reach ${opts.url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let problem: ProblemDocument | undefined;
    try {
      problem = JSON.parse(text) as ProblemDocument;
    } catch {
      problem = undefined;
    }
    throw new ClientError(problem?.detail ?? `HTTP ${res.status}`, problem);
  }
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** A call whose answer is streamed (an export): the response, once it is known to be a success. */
export async function callStream(opts: ClientOptions, path: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(new URL(path, opts.url), { headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} });
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
    throw new ClientError(problem?.detail ?? `HTTP ${res.status}`, problem);
  }
  return res;
}
