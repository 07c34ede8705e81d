import { STATUS_CODES } from 'node:http';
import { Duplex } from 'node:stream';
import { ProblemCode, toProblem } from '../problems/problem';
import { timeOrderedId } from '../store/ids';

/** Node's own refusals, by the parser's error code; anything else it cannot parse is a bad request. */
const refusals: Record<string, { code: ProblemCode; detail: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request-timeout', detail: 'The request did not arrive in time; the connection is closed.' },
  HPE_HEADER_OVERFLOW: { code: 'headers-too-large', detail: 'The request headers are larger than the server accepts.' },
};

/**
 * The server's 'clientError' listener: what Node's HTTP parser refuses before express sees it (a
 * control character in the URL, a method HTTP does not know, headers too large, a request too slow)
 * is answered with a problem document like every other refusal, instead of Node's bare status line.
 * The connection is closed after it: a request that cannot be parsed leaves the stream unframed.
 * Nothing of the request is echoed or logged (it may carry a token).
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // A response already under way on this socket cannot be replaced; a reset peer cannot be answered.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
    socket.destroy();
    return;
  }
  const refusal = refusals[err.code ?? ''] ?? { code: 'invalid-request' as const, detail: `The request is not valid HTTP/1.1 (${err.code ?? 'unparsable'}).` };
  const problem = toProblem(refusal.code, refusal.detail, timeOrderedId());
  const body = JSON.stringify(problem);
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
}
