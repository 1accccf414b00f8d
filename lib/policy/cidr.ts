/** IPv4 CIDR arithmetic shared by the config validator and the network constructs (no cdktf). */

export interface Ipv4Cidr {
  /** First address as an unsigned 32-bit number. */
  readonly start: number;
  readonly prefix: number;
}

/** Parse `a.b.c.d/n`; undefined when malformed or when host bits are set. */
export function parseCidr(cidr: string): Ipv4Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const start = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (start & mask) >>> 0 === start ? { start, prefix } : undefined;
}

function size(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.start < b.start + size(b) && b.start < a.start + size(a);
}

const RFC1918 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((c) => parseCidr(c)!);

/** Inside 10/8, 172.16/12 or 192.168/16. */
export function isPrivateCidr(c: Ipv4Cidr): boolean {
  return RFC1918.some((r) => c.prefix >= r.prefix && cidrsOverlap(c, r));
}
