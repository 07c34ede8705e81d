import net from 'node:net';
import { Response } from 'supertest';

/**
 * The portal's cookies by the names the issue asks for, spelled out here rather than imported from
 * src: a test that read the daemon's own constant would pass whatever the daemon called them.
 */
export const sessionCookieName = '__Host-jitbroker-session';
export const signInCookieName = '__Host-jitbroker-sign-in';

/** The value a Set-Cookie header gives `name`, and the header itself. */
export function setCookieOf(res: Response, name: string): { value: string; header: string } | undefined {
  const headers = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
  const header = headers.find((h) => h.startsWith(`${name}=`));
  return header ? { value: header.slice(name.length + 1).split(';')[0] as string, header } : undefined;
}

/** A loopback port free now (a config that must name its port before the server listens). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
