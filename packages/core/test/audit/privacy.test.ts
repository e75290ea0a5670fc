import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { truncateAddress } from '@tokenwarden/core/internal';
import { Pseudonymizer } from '../../src/audit/privacy';

describe('truncateAddress', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['10.0.0.1', '10.0.0.0/24'],
    ['255.255.255.255', '255.255.255.0/24'],
    ['0.0.0.0', '0.0.0.0/24'],
  ])('keeps the /24 of IPv4 %s', (ip, expected) => {
    expect(truncateAddress(ip)).toBe(expected);
  });

  it.each([
    ['::ffff:203.0.113.77', '203.0.113.0/24'],
    ['::FFFF:203.0.113.77', '203.0.113.0/24'],
    ['0:0:0:0:0:ffff:203.0.113.77', '203.0.113.0/24'],
    ['::ffff:cb00:714d', '203.0.113.0/24'],
  ])('treats the IPv4-mapped IPv6 %s as IPv4', (ip, expected) => {
    expect(truncateAddress(ip)).toBe(expected);
  });

  it.each([
    ['2001:db8::1', '2001:db8:0::/48'],
    ['2001:db8:abcd:12::1', '2001:db8:abcd::/48'],
    ['2001:db8::', '2001:db8:0::/48'],
    ['::1', '0:0:0::/48'],
    ['::', '0:0:0::/48'],
    ['1::3:4:5:6:7', '1:0:0::/48'],
    ['1::4:5:6:7:8', '1:0:0::/48'],
    ['1:2::8', '1:2:0::/48'],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', '2001:db8:85a3::/48'],
    ['2001:DB8:85A3::7334', '2001:db8:85a3::/48'],
    ['fe80::1%eth0', 'fe80:0:0::/48'],
  ])('keeps the /48 of IPv6 %s', (ip, expected) => {
    expect(truncateAddress(ip)).toBe(expected);
  });

  it('counts an embedded IPv4 tail as two groups', () => {
    // 1:0:3:4:5:6:(1.2.3.4): the third group is 3, not a filler zero.
    expect(truncateAddress('1::3:4:5:6:1.2.3.4')).toBe('1:0:3::/48');
    expect(truncateAddress('64:ff9b::192.0.2.33')).toBe('64:ff9b:0::/48');
  });

  it('gives one form for every spelling of the same network', () => {
    const spellings = ['2001:db8:85a3::1', '2001:0DB8:85A3:0:0:0:0:2', '2001:db8:85a3:0::ffff'];
    expect(new Set(spellings.map(truncateAddress))).toEqual(new Set(['2001:db8:85a3::/48']));
  });

  it.each([
    [''],
    ['garbage'],
    ['999.1.1.1'],
    ['1.2.3'],
    ['1.2.3.4.5'],
    ['::ffff:999.1.1.1'],
    ['2001:db8:::1'],
    ['<script>'],
    ['203.0.113.77, 10.0.0.1'],
  ])('drops %j', (ip) => {
    expect(truncateAddress(ip)).toBeUndefined();
  });
});

describe('Pseudonymizer.fingerprint', () => {
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz';
  const key = randomBytes(32);

  it('is stable for one key and never holds the token', () => {
    const a = new Pseudonymizer(key, 'truncate').fingerprint(token);
    const b = new Pseudonymizer(Buffer.from(key), 'omit').fingerprint(token);
    expect(a).toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    for (const part of token.split('.')) expect(a).not.toContain(part);
  });

  it('depends on the key', () => {
    const a = new Pseudonymizer(key, 'truncate').fingerprint(token);
    expect(new Pseudonymizer(randomBytes(32), 'truncate').fingerprint(token)).not.toBe(a);
  });

  it('uses a random key when none is given, so two processes do not match', () => {
    const a = new Pseudonymizer(undefined, 'truncate').fingerprint(token);
    const b = new Pseudonymizer(undefined, 'truncate').fingerprint(token);
    expect(a).not.toBe(b);
  });

  it('tells tokens apart', () => {
    const p = new Pseudonymizer(key, 'truncate');
    expect(p.fingerprint(token)).not.toBe(p.fingerprint(`${token}x`));
  });
});

describe('Pseudonymizer.address', () => {
  const key = randomBytes(32);

  it('truncates by default mode', () => {
    const p = new Pseudonymizer(key, 'truncate');
    expect(p.address('203.0.113.77')).toBe('203.0.113.0/24');
    expect(p.address('garbage')).toBeUndefined();
  });

  it('hashes with the key in hash mode: stable, keyed, and without the address', () => {
    const p = new Pseudonymizer(key, 'hash');
    const h = p.address('203.0.113.77');
    expect(h).toMatch(/^h:[A-Za-z0-9_-]{16}$/);
    expect(h).not.toContain('203.0.113');
    expect(p.address('203.0.113.77')).toBe(h);
    expect(new Pseudonymizer(Buffer.from(key), 'hash').address('203.0.113.77')).toBe(h);
    expect(p.address('203.0.113.78')).not.toBe(h);
    expect(new Pseudonymizer(randomBytes(32), 'hash').address('203.0.113.77')).not.toBe(h);
  });

  it('keeps the hash of the address apart from the token fingerprint of the same text', () => {
    const p = new Pseudonymizer(key, 'hash');
    expect(p.address('abc')?.slice(2)).not.toBe(p.fingerprint('abc'));
  });

  it('answers the same for an address seen before, also past the memo size', () => {
    for (const mode of ['truncate', 'hash'] as const) {
      const p = new Pseudonymizer(key, mode);
      const first = [p.address('203.0.113.77'), p.address('garbage'), p.address('2001:db8::1')];
      for (let i = 0; i < 600; i++) p.address(`198.51.${i >> 8}.${i & 255}`);
      expect([p.address('203.0.113.77'), p.address('garbage'), p.address('2001:db8::1')]).toEqual(
        first,
      );
      expect(p.address('198.51.2.7')).toBe(
        mode === 'truncate' ? '198.51.2.0/24' : new Pseudonymizer(key, mode).address('198.51.2.7'),
      );
    }
  });

  it('omits addresses in omit mode', () => {
    expect(new Pseudonymizer(key, 'omit').address('203.0.113.77')).toBeUndefined();
  });

  it.each(['truncate', 'hash', 'omit'] as const)(
    'gives nothing for a missing address (%s)',
    (m) => {
      const p = new Pseudonymizer(key, m);
      expect(p.address(undefined)).toBeUndefined();
      expect(p.address('')).toBeUndefined();
    },
  );
});

describe('Pseudonymizer.userAgent', () => {
  const key = randomBytes(32);
  const agent = 'python-requests/2.32.3';

  it('keeps the user agent by default, at most 200 characters, without control characters', () => {
    const p = new Pseudonymizer(key, 'truncate');
    expect(p.userAgent(agent)).toBe(agent);
    expect(p.userAgent('curl/8.5\r\nx-forged: 1')).toBe('curl/8.5x-forged: 1');
    expect(p.userAgent('a'.repeat(500))).toHaveLength(200);
    expect(p.userAgent('')).toBeUndefined();
    expect(p.userAgent(undefined)).toBeUndefined();
  });

  it('hashes with the key in hash mode and drops it in omit mode', () => {
    const hashed = new Pseudonymizer(key, 'truncate', 'hash').userAgent(agent);
    expect(hashed).toMatch(/^h:[A-Za-z0-9_-]{16}$/);
    expect(hashed).not.toContain('python');
    expect(new Pseudonymizer(Buffer.from(key), 'omit', 'hash').userAgent(agent)).toBe(hashed);
    expect(new Pseudonymizer(randomBytes(32), 'truncate', 'hash').userAgent(agent)).not.toBe(
      hashed,
    );
    expect(new Pseudonymizer(key, 'truncate', 'omit').userAgent(agent)).toBeUndefined();
  });
});
