import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { AddressMode, UserAgentMode } from './options';

/** Keyed fingerprints and address pseudonyms for the audit trail. */
export class Pseudonymizer {
  private readonly key: Buffer;
  /** Recent addresses and what they became: clients come back, and this runs for every event. */
  private readonly addresses = new Map<string, string | undefined>();
  /** Recent user agents and what they became, for the same reason. */
  private readonly userAgents = new Map<string, string | undefined>();

  constructor(
    key: Buffer | undefined,
    private readonly addressMode: AddressMode,
    private readonly userAgentMode: UserAgentMode = 'keep',
  ) {
    this.key = key ?? randomBytes(32);
  }

  /** HMAC-SHA256 of the token, 128 bits, base64url. Never reversible to the token. */
  fingerprint(token: string): string {
    return createHmac('sha256', this.key)
      .update(token)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  /** The user agent as the audit trail may keep it. */
  userAgent(value: string | undefined): string | undefined {
    if (value === undefined || value === '' || this.userAgentMode === 'omit') return undefined;
    return remembered(this.userAgents, value, (ua) => {
      if (this.userAgentMode === 'hash') {
        return (
          'h:' +
          createHmac('sha256', this.key).update(ua).digest().subarray(0, 12).toString('base64url')
        );
      }
      // eslint-disable-next-line no-control-regex
      const kept = ua.slice(0, 200).replace(/[\x00-\x1f\x7f]/g, '');
      return kept === '' ? undefined : kept;
    });
  }

  /** The client address as the audit trail may keep it. */
  address(ip: string | undefined): string | undefined {
    if (ip === undefined || ip === '' || this.addressMode === 'omit') return undefined;
    return remembered(this.addresses, ip, (address) =>
      this.addressMode === 'hash'
        ? 'h:' +
          createHmac('sha256', this.key)
            .update(address)
            .digest()
            .subarray(0, 12)
            .toString('base64url')
        : truncateAddress(address),
    );
  }
}

/** Values remembered by {@link remembered} (only in memory; emptied when full). */
const RECENT_VALUES = 256;

/**
 * `make(value)`, remembered for the recent values (up to 512 characters): the same clients come
 * back on every event.
 */
function remembered(
  recent: Map<string, string | undefined>,
  value: string,
  make: (value: string) => string | undefined,
): string | undefined {
  // Long values (a padded header) are not worth keeping in memory.
  if (value.length > 512) return make(value);
  const known = recent.get(value);
  if (known !== undefined || recent.has(value)) return known;
  const made = make(value);
  if (recent.size >= RECENT_VALUES) recent.clear();
  recent.set(value, made);
  return made;
}

/**
 * IPv4 to its /24, IPv6 to its /48; anything else is dropped. IPv4-mapped IPv6 addresses count as
 * IPv4, and IPv6 networks come out in one canonical spelling (lower-case hex, no leading zeros),
 * so every spelling of an address pseudonymises to the same network.
 */
export function truncateAddress(ip: string): string | undefined {
  if (isIPv4(ip)) return ip.split('.').slice(0, 3).join('.') + '.0/24';
  if (!isIPv6(ip)) return undefined;
  const g = ipv6Groups(ip);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.0/24`;
  }
  return (
    g
      .slice(0, 3)
      .map((n) => n.toString(16))
      .join(':') + '::/48'
  );
}

/** The eight 16-bit groups of an address `isIPv6` accepted (zone id dropped). */
function ipv6Groups(ip: string): number[] {
  const zone = ip.indexOf('%');
  const [head = '', tail] = (zone < 0 ? ip : ip.slice(0, zone)).split('::');
  const left = groupsOf(head);
  if (tail === undefined) return left;
  const right = groupsOf(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function groupsOf(part: string): number[] {
  const out: number[] = [];
  if (part === '') return out;
  for (const group of part.split(':')) {
    if (group.includes('.')) {
      // An embedded IPv4 tail is two groups.
      const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
      out.push((a << 8) | b, (c << 8) | d);
    } else {
      out.push(parseInt(group, 16));
    }
  }
  return out;
}
