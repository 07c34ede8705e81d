import net from 'node:net';

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address it maps. */
export function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1] as string, family: 'ipv4' };
  return { address, family: net.isIPv4(address) ? 'ipv4' : 'ipv6' };
}

/**
 * Whether a host name or address (IPv6 with or without brackets) never leaves this machine:
 * `localhost`, 127.0.0.0/8, ::1, or an IPv4-mapped form of them. The one answer for every place
 * that lets something through only on loopback: local identity and plain HTTP on the daemon's own
 * address, an http identity provider, an http webhook receiver.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h.toLowerCase() === 'localhost') return true;
  if (!net.isIP(h)) return false;
  const a = unmapped(h);
  return loopback.check(a.address, a.family);
}
