import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, keyFromEnv, keyFromFile, type JwtAlgorithm } from '@tokenwarden/core';
import { keyPair, testKeys } from '@tokenwarden/testing';
import { KeyRing, MAX_KID_LENGTH, toRingKey } from '../../src/verify/key-ring';

const ALL: readonly JwtAlgorithm[] = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'PS256',
  'ES256',
  'ES384',
];

/** Runs `fn`, expects a ConfigError and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('config_invalid');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const rsaPem = () =>
  testKeys().rs256.publicKey.export({ type: 'spki', format: 'pem' }).toString('utf8');

describe('toRingKey: HMAC secrets', () => {
  it.each([
    ['HS256', 32],
    ['HS384', 48],
    ['HS512', 64],
  ] as const)('refuses a %s secret shorter than %i bytes and says how to make one', (alg, min) => {
    const error = configError(() => toRingKey({ kid: 'k', alg, key: randomBytes(min - 1) }, ALL));
    expect(error.message).toContain(`${min - 1} bytes`);
    expect(error.message).toContain(`needs at least ${min} random bytes`);
    expect(error.message).toContain(`randomBytes(${min})`);
    expect(error.message).toContain("key 'k'");
  });

  it.each([
    ['HS256', 32],
    ['HS384', 48],
    ['HS512', 64],
  ] as const)('accepts a %s secret of exactly %i bytes', (alg, min) => {
    const key = toRingKey({ kid: 'k', alg, key: randomBytes(min) }, ALL);
    expect(key.keyObject.type).toBe('secret');
    expect(key.keyObject.symmetricKeySize).toBe(min);
    expect(key.alg).toBe(alg);
  });

  it('counts a text secret in UTF-8 bytes', () => {
    configError(() => toRingKey({ kid: 'k', alg: 'HS256', key: 'x'.repeat(31) }, ALL));
    // 16 two-byte characters are 32 bytes.
    expect(toRingKey({ kid: 'k', alg: 'HS256', key: '\u00e9'.repeat(16) }, ALL).alg).toBe('HS256');
  });

  it('refuses a PEM public key given as an HMAC secret', () => {
    const error = configError(() => toRingKey({ kid: 'k', alg: 'HS256', key: rsaPem() }, ALL));
    expect(error.message).toMatch(/PEM key; HMAC needs a random secret/);
  });

  it('refuses a PEM key given as an HMAC secret in a Buffer', () => {
    const error = configError(() =>
      toRingKey({ kid: 'k', alg: 'HS256', key: Buffer.from(rsaPem(), 'utf8') }, ALL),
    );
    expect(error.message).toMatch(/PEM key/);
  });

  it('refuses a PEM certificate given as an HMAC secret', () => {
    const cert = `-----BEGIN CERTIFICATE-----\n${randomBytes(600).toString('base64')}\n-----END CERTIFICATE-----\n`;
    configError(() => toRingKey({ kid: 'k', alg: 'HS256', key: cert }, ALL));
  });

  it('refuses a public or private KeyObject given to HS256', () => {
    const { publicKey, privateKey } = testKeys().rs256;
    expect(
      configError(() => toRingKey({ kid: 'k', alg: 'HS256', key: publicKey }, ALL)).message,
    ).toMatch(/needs a secret/);
    configError(() => toRingKey({ kid: 'k', alg: 'HS256', key: privateKey }, ALL));
  });

  it('accepts a secret KeyObject', () => {
    const key = createSecretKey(randomBytes(32));
    expect(toRingKey({ kid: 'k', alg: 'HS256', key }, ALL).keyObject).toBe(key);
  });
});

describe('toRingKey: public keys', () => {
  it('refuses an RSA key shorter than 2048 bits', () => {
    const { publicKey } = keyPair('rsa', { modulusLength: 1024 });
    const error = configError(() => toRingKey({ kid: 'old', alg: 'RS256', key: publicKey }, ALL));
    expect(error.message).toMatch(/shorter than 2048 bits; use a 2048-bit or larger RSA key/);
  });

  it('accepts an RSA-2048 key as PEM, KeyObject or private key (keeping only the public half)', () => {
    const { publicKey, privateKey } = testKeys().rs256;
    expect(toRingKey({ kid: 'a', alg: 'RS256', key: rsaPem() }, ALL).keyObject.type).toBe('public');
    expect(toRingKey({ kid: 'b', alg: 'RS256', key: publicKey }, ALL).keyObject).toBe(publicKey);
    const fromPrivate = toRingKey({ kid: 'c', alg: 'RS256', key: privateKey }, ALL);
    expect(fromPrivate.keyObject.type).toBe('public');
    expect(fromPrivate.keyObject.equals(publicKey)).toBe(true);
  });

  it('accepts an RSA key for PS256', () => {
    expect(toRingKey({ kid: 'p', alg: 'PS256', key: testKeys().rs256.publicKey }, ALL).alg).toBe(
      'PS256',
    );
  });

  it('refuses an EC key on the wrong curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const error = configError(() => toRingKey({ kid: 'e', alg: 'ES256', key: publicKey }, ALL));
    expect(error.message).toMatch(/must be an EC key on prime256v1 for ES256/);
    expect(toRingKey({ kid: 'e', alg: 'ES384', key: publicKey }, ALL).alg).toBe('ES384');
  });

  it('refuses an RSA key for ES256 and an EC key for RS256', () => {
    configError(() => toRingKey({ kid: 'x', alg: 'ES256', key: testKeys().rs256.publicKey }, ALL));
    const error = configError(() =>
      toRingKey({ kid: 'x', alg: 'RS256', key: testKeys().es256.publicKey }, ALL),
    );
    expect(error.message).toMatch(/is a ec key, but RS256 needs RSA/);
  });

  it('refuses a secret or unreadable material for an asymmetric algorithm', () => {
    configError(() =>
      toRingKey({ kid: 'x', alg: 'RS256', key: createSecretKey(randomBytes(32)) }, ALL),
    );
    const error = configError(() =>
      toRingKey({ kid: 'x', alg: 'RS256', key: 'not a key at all' }, ALL),
    );
    expect(error.message).toMatch(/not a readable public key/);
  });
});

describe('toRingKey: kid and algorithm', () => {
  const secret = randomBytes(32);

  it('refuses an algorithm missing from jwt.algorithms, saying where to add it', () => {
    const error = configError(() =>
      toRingKey({ kid: 'k', alg: 'HS512', key: randomBytes(64) }, ['HS256']),
    );
    expect(error.message).toMatch(/HS512, which is not in jwt.algorithms; add it there/);
  });

  it('refuses an algorithm Tokenwarden does not know, such as none', () => {
    const error = configError(() =>
      toRingKey({ kid: 'k', alg: 'none' as JwtAlgorithm, key: secret }, ALL),
    );
    expect(error.message).toMatch(/alg 'none'; use one of HS256/);
  });

  it.each([
    ['empty', ''],
    ['too long', 'k'.repeat(MAX_KID_LENGTH + 1)],
  ])('refuses a %s kid', (_name, kid) => {
    expect(configError(() => toRingKey({ kid, alg: 'HS256', key: secret }, ALL)).message).toMatch(
      /'kid' of 1 to 256 characters/,
    );
  });
});

describe('KeyRing', () => {
  const a = { kid: 'a', alg: 'HS256', key: randomBytes(32) } as const;
  const b = { kid: 'b', alg: 'RS256', key: testKeys().rs256.publicKey } as const;

  it('refuses an empty key list, pointing at keyFromEnv and keyFromFile', () => {
    expect(configError(() => new KeyRing([], ALL)).message).toMatch(
      /jwt.keys is required.*keyFromEnv and keyFromFile/,
    );
  });

  it('refuses a duplicate kid', () => {
    const error = configError(
      () => new KeyRing([a, { kid: 'a', alg: 'RS256', key: testKeys().rs256.publicKey }], ALL),
    );
    expect(error.message).toMatch(/kid 'a' appears twice/);
  });

  it('selects keys by kid', () => {
    const ring = new KeyRing([a, b], ALL);
    expect(ring.size).toBe(2);
    expect(ring.select('a')?.alg).toBe('HS256');
    expect(ring.select('b')?.alg).toBe('RS256');
    expect(ring.select('c')).toBeUndefined();
    expect(ring.select('__proto__')).toBeUndefined();
  });

  it('selects the only key for a token without kid, and none when there are several', () => {
    expect(new KeyRing([a], ALL).select(undefined)?.kid).toBe('a');
    expect(new KeyRing([a, b], ALL).select(undefined)).toBeUndefined();
  });
});

describe('keyFromEnv', () => {
  it('reads a UTF-8 secret', () => {
    const secret = 's'.repeat(40);
    const key = keyFromEnv('TW_SECRET', { kid: 'k', alg: 'HS256' }, { TW_SECRET: secret });
    expect(key).toEqual({ kid: 'k', alg: 'HS256', key: secret });
  });

  it.each(['base64', 'base64url', 'hex'] as const)('decodes a %s secret', (encoding) => {
    const bytes = randomBytes(32);
    const key = keyFromEnv(
      'TW_SECRET',
      { kid: 'k', alg: 'HS256', encoding },
      { TW_SECRET: bytes.toString(encoding) },
    );
    expect(Buffer.isBuffer(key.key) && key.key.equals(bytes)).toBe(true);
    expect(new KeyRing([key], ['HS256']).size).toBe(1);
  });

  it('reads from process.env by default', () => {
    const name = `TW_TEST_SECRET_${process.pid}`;
    process.env[name] = 'p'.repeat(32);
    try {
      expect(keyFromEnv(name, { kid: 'k', alg: 'HS256' }).key).toBe('p'.repeat(32));
    } finally {
      delete process.env[name];
    }
  });

  it.each([
    ['unset', {}],
    ['empty', { TW_SECRET: '' }],
  ])('says which variable to set when it is %s', (_name, env) => {
    const error = configError(() => keyFromEnv('TW_SECRET', { kid: 'k-2026', alg: 'HS256' }, env));
    expect(error.message).toBe(
      "environment variable TW_SECRET is not set; it must hold the key 'k-2026'",
    );
  });
});

describe('keyFromFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenwarden-keys-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a PEM public key that the ring accepts for RS256', () => {
    const path = join(dir, 'rs.pem');
    writeFileSync(path, rsaPem());
    const key = keyFromFile(path, { kid: 'rs', alg: 'RS256' });
    expect(key.kid).toBe('rs');
    expect(String(key.key)).toContain('-----BEGIN PUBLIC KEY-----');
    expect(new KeyRing([key], ['RS256']).select('rs')?.keyObject.type).toBe('public');
  });

  it('reads an encoded secret and ignores the trailing newline', () => {
    const bytes = randomBytes(48);
    const path = join(dir, 'hs.key');
    writeFileSync(path, `${bytes.toString('base64url')}\n`);
    const key = keyFromFile(path, { kid: 'hs', alg: 'HS384', encoding: 'base64url' });
    expect(Buffer.isBuffer(key.key) && key.key.equals(bytes)).toBe(true);
    expect(new KeyRing([key], ['HS384']).size).toBe(1);
  });

  it('keeps a PEM file as PEM, so the ring refuses it for HMAC', () => {
    const path = join(dir, 'confused.pem');
    writeFileSync(path, rsaPem());
    const key = keyFromFile(path, { kid: 'x', alg: 'HS256', encoding: 'base64' });
    configError(() => new KeyRing([key], ['HS256']));
  });

  it('names the key, the path and the error code of an unreadable file', () => {
    const path = join(dir, 'missing.pem');
    const error = configError(() => keyFromFile(path, { kid: 'gone', alg: 'RS256' }));
    expect(error.message).toBe(`cannot read the key 'gone' from ${path}: ENOENT`);
  });
});

describe('isKeySelector', () => {
  it('tells a selector (a ring) from a list of keys', async () => {
    const { isKeySelector, MemorySigningKeyStore, SigningKeyRing } =
      await import('@tokenwarden/core/internal');
    const ring = new SigningKeyRing({
      store: new MemorySigningKeyStore(),
      maxTokenLifetimeMs: 60_000,
    });
    expect(isKeySelector(ring)).toBe(true);
    expect(
      isKeySelector(new KeyRing([{ kid: 'h', alg: 'HS256', key: randomBytes(32) }], ['HS256'])),
    ).toBe(true);
    expect(isKeySelector([{ kid: 'h', alg: 'HS256', key: randomBytes(32) }])).toBe(false);
    expect(isKeySelector({ select: () => undefined })).toBe(false);
    expect(isKeySelector(null)).toBe(false);
  });
});
