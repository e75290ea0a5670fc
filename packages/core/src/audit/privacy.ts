import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { AddressMode } from '../policy/options';

/** Keyed fingerprints and address pseudonyms for the audit trail. */
export class Pseudonymizer {
  private readonly key: Buffer;

  constructor(
    key: Buffer | undefined,
    private readonly addressMode: AddressMode,
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

  /** The client address as the audit trail may keep it. */
  address(ip: string | undefined): string | undefined {
    if (ip === undefined || ip === '' || this.addressMode === 'omit') return undefined;
    if (this.addressMode === 'hash') {
      return (
        'h:' +
        createHmac('sha256', this.key).update(ip).digest().subarray(0, 12).toString('base64url')
      );
    }
    return truncateAddress(ip);
  }
}

/** IPv4 to its /24, IPv6 to its /48; anything else is dropped. */
export function truncateAddress(ip: string): string | undefined {
  const v4 = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (isIPv4(v4)) return v4.split('.').slice(0, 3).join('.') + '.0/24';
  if (isIPv6(ip)) {
    const [head = '', tail] = ip.split('::');
    const groups = head === '' ? [] : head.split(':');
    if (tail !== undefined) {
      const rest = tail === '' ? [] : tail.split(':');
      while (groups.length + rest.length < 8) groups.push('0');
      groups.push(...rest);
    }
    return (
      groups
        .slice(0, 3)
        .map((g) => g || '0')
        .join(':') + '::/48'
    );
  }
  return undefined;
}
