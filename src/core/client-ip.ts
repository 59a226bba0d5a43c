// Who the client is when requests pass through proxies we trust (a load balancer, a CDN).
//
// `X-Forwarded-For` is a list each proxy appends its peer to, so only its rightmost entries were written by someone
// we trust; everything to the left of the first untrusted hop may be forged by the client. resolveClientIp walks
// the list right to left through trusted hops only (the rule of `proxy-addr` and nginx's `real_ip_recursive on`).
//
// Addresses are compared as numbers, not strings: `::ffff:10.0.0.1` (an IPv4-mapped IPv6 address, what a
// dual-stack listener reports for an IPv4 peer) is the same host as `10.0.0.1`, and is normalised to the IPv4 form
// everywhere it is reported. Pure: no `node:net` (core takes no I/O modules), so the parsing is done here.

import { EdgeError } from './errors.ts';

/** A parsed address: IPv4 as one unsigned 32-bit number, IPv6 as eight 16-bit groups. */
type ParsedIp = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly g: readonly number[] };

interface V4Range {
  readonly net: number;
  readonly mask: number;
}

interface V6Range {
  readonly g: readonly number[];
  readonly prefix: number;
}

/** A compiled trusted-proxy list. Build it once per route table (compileTrustedProxies), query it per request. */
export class TrustedProxies {
  readonly entries: readonly string[];
  readonly #v4: readonly V4Range[];
  readonly #v6: readonly V6Range[];

  constructor(entries: readonly string[], v4: readonly V4Range[], v6: readonly V6Range[]) {
    this.entries = entries;
    this.#v4 = v4;
    this.#v6 = v6;
  }

  /** True when nothing is trusted: callers can skip parsing forwarded headers altogether. */
  get empty(): boolean {
    return this.#v4.length === 0 && this.#v6.length === 0;
  }

  /** Whether `ip` (any textual form: v4, v6, IPv4-mapped, bracketed, with zone) lies in a trusted range. */
  contains(ip: string): boolean {
    if (this.empty) return false;
    const parsed = parseIp(ip);
    return parsed !== null && this.#containsParsed(parsed);
  }

  #containsParsed(ip: ParsedIp): boolean {
    if (ip.v === 4) {
      for (const r of this.#v4) if ((ip.n & r.mask) >>> 0 === r.net) return true;
      return false;
    }
    for (const r of this.#v6) if (v6InRange(ip.g, r)) return true;
    return false;
  }
}

/**
 * Compiles `trustedProxies` entries: addresses (`10.0.0.1`, `::1`) and CIDRs (`10.0.0.0/8`, `fd00::/8`,
 * `::ffff:10.0.0.0/104` which means `10.0.0.0/8`). Throws EdgeError RF_CONFIG_INVALID naming the first bad entry
 * (the config loader reports every bad entry with its position through parseCidr).
 */
export function compileTrustedProxies(list: readonly string[]): TrustedProxies {
  const v4: V4Range[] = [];
  const v6: V6Range[] = [];
  for (const entry of list) {
    const cidr = parseCidr(entry);
    if (cidr === null) {
      throw new EdgeError('RF_CONFIG_INVALID', `trustedProxies: "${entry}" is not an IP address or CIDR`);
    }
    if (cidr.v === 4) v4.push({ net: cidr.net, mask: cidr.mask });
    else v6.push({ g: cidr.g, prefix: cidr.prefix });
  }
  return new TrustedProxies(Object.freeze([...list]), v4, v6);
}

export type ParsedCidr =
  | { readonly v: 4; readonly net: number; readonly mask: number; readonly prefix: number }
  | { readonly v: 6; readonly g: readonly number[]; readonly prefix: number };

/** Parses an address or CIDR; null when it is neither. Host bits set below the prefix are ignored (masked off). */
export function parseCidr(text: string): ParsedCidr | null {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text.trim() : text.slice(0, slash).trim();
  const zone = addrText.indexOf('%');
  const addr = parseIpStrict(zone === -1 ? addrText : addrText.slice(0, zone));
  if (addr === null) return null;
  const isMappedText = addr.v === 4 && addrText.includes(':');
  const maxPrefix = addr.v === 4 && !isMappedText ? 32 : 128;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const p = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > maxPrefix) return null;
  }
  if (addr.v === 4) {
    // An IPv4-mapped CIDR counts its prefix over 128 bits; the IPv4 part is the last 32 of them.
    const v4Prefix = isMappedText ? prefix - 96 : prefix;
    if (v4Prefix < 0) return null;
    const mask = v4Prefix === 0 ? 0 : (0xffffffff << (32 - v4Prefix)) >>> 0;
    return { v: 4, net: (addr.n & mask) >>> 0, mask, prefix: v4Prefix };
  }
  return { v: 6, g: addr.g, prefix };
}

/**
 * The client address: `peer` when it is not trusted, else the rightmost `X-Forwarded-For` entry that is not a
 * trusted proxy (the leftmost one when every hop is trusted). An entry that is not an address stops the walk: the
 * last good address is the best we know. Always returned in normalised form (IPv4-mapped → IPv4, no brackets).
 */
export function resolveClientIp(peer: string, xffHeader: string | undefined, trusted: TrustedProxies): string {
  const peerIp = parseIp(peer);
  let current = peerIp === null ? peer : formatIp(peerIp);
  if (peerIp === null || xffHeader === undefined || xffHeader === '' || !trusted.contains(current)) return current;
  let end = xffHeader.length;
  while (end > 0) {
    const comma = xffHeader.lastIndexOf(',', end - 1);
    const entry = xffHeader.slice(comma + 1, end).trim();
    end = comma === -1 ? 0 : comma;
    if (entry === '') continue;
    const parsed = parseForwardedAddress(entry);
    if (parsed === null) return current;
    current = formatIp(parsed);
    if (!trusted.contains(current)) return current;
  }
  return current;
}

/**
 * Normalised text of an address (`::ffff:1.2.3.4` → `1.2.3.4`, `[::1]` → `::1`, zone dropped, IPv6 in RFC 5952
 * compressed lower-case form), or the input unchanged when it is not an address.
 */
export function normalizeIp(text: string): string {
  const parsed = parseIp(text);
  return parsed === null ? text : formatIp(parsed);
}

/** True for an IPv6 address (after normalisation): the `Forwarded` header needs it quoted and bracketed. */
export function isIpv6(text: string): boolean {
  return text.includes(':');
}

// ---- parsing ------------------------------------------------------------------------------------------------------

/** Lenient: accepts brackets and an IPv6 zone (`fe80::1%eth0`), as peers and headers carry them. */
function parseIp(text: string): ParsedIp | null {
  let t = text;
  if (t.charCodeAt(0) === 0x5b /* [ */ && t.charCodeAt(t.length - 1) === 0x5d /* ] */) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone !== -1) t = t.slice(0, zone);
  return parseIpStrict(t);
}

/** XFF entries sometimes carry a port (`1.2.3.4:5678`, `[::1]:5678`); the address is what matters. */
function parseForwardedAddress(entry: string): ParsedIp | null {
  if (entry.charCodeAt(0) === 0x5b) {
    const close = entry.indexOf(']');
    return close === -1 ? null : parseIp(entry.slice(0, close + 1));
  }
  const colon = entry.indexOf(':');
  if (colon !== -1 && colon === entry.lastIndexOf(':')) return parseIpStrict(entry.slice(0, colon));
  return parseIp(entry);
}

function parseIpStrict(text: string): ParsedIp | null {
  if (text.includes(':')) {
    const g = parseV6(text);
    if (g === null) return null;
    // ::ffff:a.b.c.d is an IPv4 host seen through a dual-stack socket.
    if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
      return { v: 4, n: (((g[6] ?? 0) << 16) | (g[7] ?? 0)) >>> 0 };
    }
    return { v: 6, g };
  }
  const n = parseV4(text);
  return n === null ? null : { v: 4, n };
}

function parseV4(text: string): number | null {
  let n = 0;
  let octets = 0;
  let value = -1;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 0x2e : text.charCodeAt(i);
    if (c === 0x2e) {
      if (value < 0 || octets === 4) return null;
      n = n * 256 + value;
      octets++;
      value = -1;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      value = (value < 0 ? 0 : value * 10) + (c - 0x30);
      digits++;
      if (value > 255 || digits > 3) return null;
    } else {
      return null;
    }
  }
  return octets === 4 ? n >>> 0 : null;
}

function parseV6(text: string): number[] | null {
  const double = text.indexOf('::');
  if (double !== -1 && text.indexOf('::', double + 1) !== -1) return null;
  const head = double === -1 ? text : text.slice(0, double);
  const tail = double === -1 ? '' : text.slice(double + 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const all = [...headGroups, ...tailGroups];
  const parsedHead: number[] = [];
  const parsedTail: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const part = all[i]!;
    const isLast = i === all.length - 1;
    const into = i < headGroups.length ? parsedHead : parsedTail;
    if (isLast && part.includes('.')) {
      const v4 = parseV4(part);
      if (v4 === null) return null;
      into.push(v4 >>> 16, v4 & 0xffff);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
    into.push(Number.parseInt(part, 16));
  }
  const explicit = parsedHead.length + parsedTail.length;
  if (double === -1) {
    if (explicit !== 8) return null;
  } else if (explicit > 7) {
    return null;
  }
  groups.push(...parsedHead);
  for (let i = explicit; i < 8; i++) groups.push(0);
  groups.push(...parsedTail);
  return groups;
}

function v6InRange(g: readonly number[], r: V6Range): boolean {
  let bits = r.prefix;
  for (let i = 0; i < 8 && bits > 0; i++) {
    const take = Math.min(bits, 16);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if (((g[i] ?? 0) & mask) !== ((r.g[i] ?? 0) & mask)) return false;
    bits -= take;
  }
  return true;
}

function formatIp(ip: ParsedIp): string {
  if (ip.v === 4) return `${ip.n >>> 24}.${(ip.n >>> 16) & 255}.${(ip.n >>> 8) & 255}.${ip.n & 255}`;
  // RFC 5952: the longest run (≥ 2) of zero groups becomes `::`, first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (ip.g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && ip.g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    ip.g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
