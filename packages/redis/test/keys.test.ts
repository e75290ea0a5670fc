import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tokenwarden/core';
import { HOSTILE_IDS } from '@tokenwarden/testing';
import { KeySpace, SHARD_BUCKETS, encodeId, keySlot } from '../src/keys';

/** The hash tag Redis Cluster would use for `key`, or the whole key when it has none. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

describe('encodeId', () => {
  it('keeps unreserved characters and escapes everything else', () => {
    expect(encodeId('Abc-1.2_3~')).toBe('Abc-1.2_3~');
    expect(encodeId('a:b')).toBe('a%3Ab');
    expect(encodeId('{x}')).toBe('%7Bx%7D');
    expect(encodeId('%#*')).toBe('%25%23%2A');
    expect(encodeId('\0')).toBe('%00');
    expect(encodeId('\u00e9')).toBe('%E9');
    expect(encodeId('\ud83d\udd11')).toBe('%uD83D%uDD11');
    expect(encodeId('')).toBe('');
  });

  it('is injective on hostile ids, lone surrogates included', () => {
    const encoded = HOSTILE_IDS.map(encodeId);
    expect(new Set(encoded).size).toBe(HOSTILE_IDS.length);
    expect(encodeId('\ud800')).not.toBe(encodeId('\ufffd'));
  });

  it('never emits a separator, brace, hash, glob or control character', () => {
    for (const id of HOSTILE_IDS) expect(encodeId(id)).toMatch(/^[A-Za-z0-9._~%-]*$/);
  });
});

describe('KeySpace', () => {
  it('puts every key under the prefix and the {tw} hash tag by default', () => {
    const keys = new KeySpace();
    expect(keys.base).toBe('tokenwarden:{tw}:');
    expect(keys.revoked('t1')).toBe('tokenwarden:{tw}:rev:t1');
    expect(keys.subjectMark('alice')).toBe('tokenwarden:{tw}:nbf:sub:alice');
    expect(keys.clientMark('app')).toBe('tokenwarden:{tw}:nbf:cli:app');
    expect(keys.allMark()).toBe('tokenwarden:{tw}:nbf:all');
    expect(keys.consent('alice', 'marketing')).toBe('tokenwarden:{tw}:consent:alice:marketing');
  });

  it('uses a hash tag the prefix brings instead of adding {tw}', () => {
    const keys = new KeySpace('billing:{tenant-1}:');
    expect(keys.revoked('t')).toBe('billing:{tenant-1}:rev:t');
    expect(hashTag(keys.consent('{a}', 'b'))).toBe('tenant-1');
  });

  it('gives every key of hostile ids the same hash tag, the prefix and a bounded length', () => {
    const keys = new KeySpace('app:', 200);
    const all = HOSTILE_IDS.flatMap((id) => [
      keys.revoked(id),
      keys.subjectMark(id),
      keys.clientMark(id),
      keys.consent(id, id),
      keys.consent(id, 'p'),
      keys.consent('s', id),
    ]);
    for (const key of all) {
      expect(key.startsWith('app:{tw}:')).toBe(true);
      expect(hashTag(key)).toBe('tw');
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(200);
    }
    // Distinct ids give distinct keys, except consent(id, 'p') vs consent('s', id) for the same
    // pair, which is the same record.
    const expected = new Set(
      HOSTILE_IDS.flatMap((id) => [`r${id}`, `s${id}`, `c${id}`]).concat(
        HOSTILE_IDS.flatMap((id) => [
          JSON.stringify([id, id]),
          JSON.stringify([id, 'p']),
          JSON.stringify(['s', id]),
        ]),
      ),
    );
    expect(new Set(all).size).toBe(expected.size);
  });

  it('replaces a too long id by its SHA-256 and keeps long ids apart', () => {
    const keys = new KeySpace();
    const a = keys.revoked('x'.repeat(10_000));
    const b = keys.revoked(`${'x'.repeat(9_999)}y`);
    expect(a).toMatch(/^tokenwarden:\{tw\}:rev:#[0-9a-f]{64}$/);
    expect(b).not.toBe(a);
    // An id that looks like a hashed key is encoded, so it cannot land on the hashed key.
    expect(keys.revoked(a.slice(a.indexOf('#')))).not.toBe(a);
  });

  it('escapes glob characters in the SCAN pattern', () => {
    expect(new KeySpace('a*b?[c]\\:').pattern()).toBe('a\\*b\\?\\[c\\]\\\\:{tw}:*');
  });

  it.each([
    ['a stray brace', 'app{'],
    ['an empty hash tag', 'app:{}:'],
    ['two hash tags', '{a}{b}'],
    ['a control character', 'app\n'],
    ['more than 128 bytes', 'p'.repeat(129)],
  ])('rejects a prefix with %s', (_label, prefix) => {
    expect(() => new KeySpace(prefix)).toThrow(ConfigError);
    expect(() => new KeySpace(prefix)).toThrow(`'prefix'`);
  });

  it('rejects a maxKeyLength too small for a hashed key', () => {
    expect(() => new KeySpace('tokenwarden:', 80)).toThrow(`'maxKeyLength'`);
    expect(() => new KeySpace('tokenwarden:', 90)).not.toThrow();
  });
});

describe("KeySpace layout 'sharded'", () => {
  it('computes Redis Cluster slots (CRC16 XMODEM of the hash tag)', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('a{123456789}b')).toBe(12739);
    expect(keySlot('{}x')).toBe(keySlot('{}x'));
  });

  it('gives 64 buckets, one per 256-slot range, and every key of a subject the tag of its bucket', () => {
    const keys = new KeySpace('app:', 256, 'sharded');
    const buckets = keys.buckets!;
    expect(buckets).toHaveLength(SHARD_BUCKETS);
    buckets.forEach((bucket, n) => {
      expect(Math.floor(keySlot(bucket.epoch()) / 256)).toBe(n);
    });
    const space = keys.of('alice');
    expect(keys.of('alice')).toBe(space);
    const slot = keySlot(space.subjectMark('alice'));
    expect(keySlot(space.revoked('jti'))).toBe(slot);
    expect(keySlot(space.consent('alice', 'marketing'))).toBe(slot);
    expect(keySlot(space.allMark())).toBe(slot);
    expect(new Set(['a', 'b', 'c', 'd', 'e', 'f'].map((s) => keys.of(s))).size).toBeGreaterThan(1);
    expect(() => new KeySpace('app:{t}:', 256, 'sharded')).toThrow(ConfigError);
  });
});
