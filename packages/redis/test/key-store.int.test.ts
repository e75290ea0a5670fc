import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  EnvelopeError,
  generateSigningKey,
  masterKey,
  SigningKeyRing,
  TokenIssuer,
  type SigningKeySet,
} from '@tokenwarden/core';
import { RedisSigningKeyStore } from '../src/key-store';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let redis: Redis;
const prefixes: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(() => {
  redis = new Redis(URL);
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
});
afterAll(async () => {
  await redis.quit();
});

function prefix(): string {
  const p = `tw-keystore-test-${randomUUID()}:`;
  prefixes.push(p);
  return p;
}

function store(
  p: string,
  options: Partial<ConstructorParameters<typeof RedisSigningKeyStore>[0]> = {},
) {
  const s = new RedisSigningKeyStore({
    url: URL,
    prefix: p,
    masterKey: masterKey(randomBytes(32)),
    ...options,
  });
  closers.push(() => s.close());
  return s;
}

/** Every byte stored under the prefix, as text. */
async function storedBytes(p: string): Promise<string> {
  const keys = await redis.keys(`${p}*`);
  let out = '';
  for (const key of keys) out += JSON.stringify(await redis.hgetall(key));
  return out;
}

function oneKeySet(now = Date.now()): SigningKeySet {
  return { revision: 1, keys: [generateSigningKey('ES256', now)] };
}

describe('RedisSigningKeyStore (real Redis)', () => {
  it('stores the private key encrypted: the stored bytes never hold it, and it loads back', async () => {
    const p = prefix();
    const s = store(p);
    const set = oneKeySet();
    const secret = set.keys[0]!.secret;
    expect(await s.save(set)).toBe(true);
    const bytes = await storedBytes(p);
    const body = secret.split('\n').slice(1, -2).join('');
    expect(bytes).not.toContain(body.slice(0, 40));
    expect(bytes).not.toContain('PRIVATE KEY');
    expect(bytes).toContain('A256GCM');
    expect(bytes).toContain(set.keys[0]!.kid);
    const loaded = await s.load();
    expect(loaded.revision).toBe(1);
    expect(loaded.keys[0]!.secret).toBe(secret);
    // Metadata and public keys without opening anything.
    const info = await s.loadInfo();
    expect(info.keys[0]).toMatchObject({ kid: set.keys[0]!.kid, publicJwk: { kty: 'EC' } });
    expect(JSON.stringify(info)).not.toContain('PRIVATE');
  });

  it('fails loudly with a wrong master key', async () => {
    const p = prefix();
    await store(p).save(oneKeySet());
    const wrong = store(p);
    await expect(wrong.load()).rejects.toThrow(EnvelopeError);
    await expect(wrong.load()).rejects.toThrow(/not configured/);
  });

  it('refuses a save that does not follow the stored revision', async () => {
    const s = store(prefix());
    expect(await s.save(oneKeySet())).toBe(true);
    expect(await s.save(oneKeySet())).toBe(false);
    expect(await s.save({ ...oneKeySet(), revision: 3 })).toBe(false);
    expect(await s.save({ ...oneKeySet(), revision: 2 })).toBe(true);
  });

  it('re-wraps every key under a new master key; the old key is then no longer needed', async () => {
    const p = prefix();
    const oldKey = masterKey(randomBytes(32));
    const newKey = masterKey(randomBytes(32));
    const set = oneKeySet();
    await store(p, { masterKey: oldKey }).save(set);
    const rotating = store(p, { masterKey: newKey, previousMasterKeys: [oldKey] });
    expect(await rotating.rewrap()).toBe(1);
    expect(await storedBytes(p)).toContain(newKey.id);
    expect(await storedBytes(p)).not.toContain(oldKey.id);
    const loaded = await store(p, { masterKey: newKey }).load();
    expect(loaded.keys[0]!.secret).toBe(set.keys[0]!.secret);
    await expect(store(p, { masterKey: oldKey }).load()).rejects.toThrow(EnvelopeError);
  });

  it('tells a watching ring of a rotation made by another node, without restart', async () => {
    const p = prefix();
    const master = masterKey(randomBytes(32));
    const ringOf = () => {
      const ring = new SigningKeyRing({
        store: store(p, { masterKey: master }),
        maxTokenLifetimeMs: 60_000,
        // Refresh rarely: the change must arrive by notification.
        refreshIntervalMs: 600_000,
        activationDelayMs: 600_000,
      });
      closers.push(() => ring.close());
      return ring;
    };
    const a = ringOf();
    const b = ringOf();
    await a.start();
    await b.start();
    expect(b.signingKey().kid).toBe(a.signingKey().kid);
    const next = await a.rotate({ immediate: true });
    const deadline = Date.now() + 5_000;
    while (b.select(next.kid) === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(b.select(next.kid)).toBeDefined();
    expect(b.signingKey().kid).toBe(next.kid);
    const issuer = new TokenIssuer({
      issuer: 'https://issuer.test/',
      audience: 'api',
      keys: b,
      clients: { app: { scopes: ['a'] } },
    });
    expect(issuer.issue({ client: 'app' }).kid).toBe(next.kid);
  });

  it('needs exactly one of url and client, and a master key to write', async () => {
    expect(() => new RedisSigningKeyStore({})).toThrow(/exactly one/);
    const s = new RedisSigningKeyStore({ client: redis, prefix: prefix() });
    await expect(s.save(oneKeySet())).rejects.toThrow(/needs masterKey/);
    await s.close();
    // A client passed in is never closed.
    expect(await redis.ping()).toBe('PONG');
  });
});
