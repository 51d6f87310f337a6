/** Where a channel may deliver: the allow-list of hosts, and no internal address without it. */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const internal = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  internal.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  internal.addSubnet(net, bits, 'ipv6');

/** Whether an IP address is loopback, private, link-local, multicast or unspecified (IPv4-mapped IPv6 too). */
export function isInternalAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return internal.check(mapped[1]!, 'ipv4');
  const v = isIP(ip);
  return v === 4 ? internal.check(ip, 'ipv4') : v === 6 ? internal.check(ip, 'ipv6') : false;
}

const bare = (host: string) => host.replace(/^\[|\]$/g, '').toLowerCase();

/** Whether a host is on the allow-list: `name`, `*.domain` (its subdomains), an IP, or `*` (any). */
export function allowListed(host: string, allowed: readonly string[]): boolean {
  const h = bare(host);
  return allowed.some((a) => {
    const p = bare(a);
    if (p === '*') return true;
    if (p.startsWith('*.')) return h.endsWith(p.slice(1));
    return h === p;
  });
}

/**
 * Why a delivery to `host` is refused, or `undefined` when it may go: with an allow-list, a host
 * not on it; without one, a host that is or resolves to an internal address (`localhost` too).
 * With `resolve` false (at channel creation) names are not looked up.
 */
export async function destinationRefusal(host: string, allowed: readonly string[] | undefined, resolve = true): Promise<string | undefined> {
  const h = bare(host);
  if (allowed && allowed.length) return allowListed(h, allowed) ? undefined : `host '${h}' is not on the alert allow-list (--alert-allowed-hosts)`;
  if (h === 'localhost' || h.endsWith('.localhost')) return `host '${h}' is internal: allow it with --alert-allowed-hosts`;
  if (isIP(h)) return isInternalAddress(h) ? `address ${h} is internal: allow it with --alert-allowed-hosts` : undefined;
  if (!resolve) return undefined;
  let addrs: Array<{ address: string }>;
  try {
    addrs = await lookup(h, { all: true });
  } catch (err) {
    return `host '${h}' does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const bad = addrs.find((a) => isInternalAddress(a.address));
  return bad ? `host '${h}' resolves to the internal address ${bad.address}: allow it with --alert-allowed-hosts` : undefined;
}
