import dns from 'node:dns';
import net from 'node:net';
import { isLoopbackHost, unmapped } from '../network/loopback';

/**
 * Where a webhook may point. A webhook URL is written by an admin, but the daemon posts to it from
 * inside the network: pointed at a cloud's metadata service or a link-local address it would hand
 * that service requests (server-side request forgery), so those are refused, at config load for
 * what the URL names and at delivery for what its name resolves to then (DNS can change after load).
 */

// Link-local (every cloud's metadata service lives here: AWS, Azure, GCP at 169.254.169.254) and the
// metadata services outside it (AWS over IPv6, Alibaba Cloud), and "this host" (0.0.0.0, ::).
const forbidden = new net.BlockList();
forbidden.addSubnet('169.254.0.0', 16, 'ipv4');
forbidden.addSubnet('0.0.0.0', 8, 'ipv4');
forbidden.addAddress('100.100.100.200', 'ipv4');
forbidden.addSubnet('fe80::', 10, 'ipv6');
forbidden.addAddress('fd00:ec2::254', 'ipv6');
forbidden.addAddress('::', 'ipv6');

const metadataNames = new Set(['metadata.google.internal', 'metadata']);

/** Why a webhook may not connect to this IP address, or undefined when it may. */
export function refusedAddress(address: string, protocol: string): string | undefined {
  const a = unmapped(address);
  if (forbidden.check(a.address, a.family)) return `${address} is a link-local, cloud-metadata or unspecified address`;
  if (protocol === 'http:' && !isLoopbackHost(address)) return `${address} is not loopback, and plain http is allowed only to loopback`;
  return undefined;
}

/** The host of a URL without IPv6 brackets or a trailing dot, lower case. */
function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * Why a configured webhook URL is refused, or undefined: https only (http only to a loopback
 * address or localhost, for a receiver on the same machine), no user name or password in it (it
 * would be logged and stored with each delivery), no link-local or cloud-metadata address or name.
 */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (url.username || url.password) return 'must not carry a user name or password: put a secret in `secret` (it signs each delivery)';
  const host = hostOf(url);
  if (metadataNames.has(host)) return `${host} is a cloud metadata service`;
  if (net.isIP(host)) {
    const why = refusedAddress(host, url.protocol);
    if (why) return why;
  } else if (url.protocol === 'http:' && host !== 'localhost') {
    return 'must be https: plain http is allowed only to loopback (127.0.0.0/8, ::1, localhost)';
  }
  return undefined;
}

/** A delivery to an address it may not reach; not retried. */
export class RefusedWebhookTarget extends Error {
  override name = 'RefusedWebhookTarget';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** Name resolution: the system resolver unless a test stands in for DNS. */
export type Resolve = (hostname: string, options: { family?: number }) => Promise<dns.LookupAddress[]>;
const systemResolve: Resolve = (hostname, options) => dns.promises.lookup(hostname, { family: options.family ?? 0, all: true });

/**
 * A `lookup` for http.request that refuses, before connecting, a name that resolves to an address
 * webhookUrlProblem would refuse: it runs on the very addresses the connection then uses, so a name
 * re-pointed after the check (DNS rebinding) cannot slip through between a check and the connect.
 */
export function guardedLookup(protocol: string, resolve: Resolve = systemResolve) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { family: typeof options.family === 'number' ? options.family : undefined }).then(
      (addresses) => {
        for (const a of addresses) {
          const why = refusedAddress(a.address, protocol);
          if (why) return callback(new RefusedWebhookTarget(`${hostname} resolves to ${why}; refused`), []);
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0];
        if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}

/** Checks a URL's host when it is an IP literal (http.request does no lookup for those). */
export function refuseLiteralTarget(url: URL): void {
  const host = hostOf(url);
  if (metadataNames.has(host)) throw new RefusedWebhookTarget(`${host} is a cloud metadata service; refused`);
  if (!net.isIP(host)) return;
  const why = refusedAddress(host, url.protocol);
  if (why) throw new RefusedWebhookTarget(`${why}; refused`);
}
