import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { Redis } from 'ioredis';
import {
  EnvelopeError,
  generateSigningKey,
  masterKey,
  newKeyPair,
  SigningKeyError,
  SigningKeyRing,
  TokenIssuer,
  type AuditEventInput,
  type Jwk,
  type JwkSet,
  type MasterKey,
  type SigningKeySet,
} from '@tokenwarden/core';
import { publicJwk } from '@tokenwarden/core/internal';
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

/** The hash the store keeps its set in, and the channel it announces saves on. */
const hashOf = (p: string) => `${p}{tw}:signing-keys`;
const channelOf = (p: string) => `${p}{tw}:signing-keys:changed`;

interface StoredDoc {
  v?: number;
  settings?: Record<string, unknown>;
  keys: { kid: string; publicJwk?: Jwk; activeFrom: number; verifyUntil?: number }[];
  seal?: unknown;
}

/** What an attacker with write access to Redis reads: the revision and the document, as stored. */
async function readHash(p: string): Promise<{ revision: number; doc: StoredDoc; raw: string }> {
  const [revision, raw] = await redis.hmget(hashOf(p), 'revision', 'doc');
  return { revision: Number(revision), doc: JSON.parse(raw!) as StoredDoc, raw: raw! };
}

/** What the attacker writes: a revision and a document, announced to every node. */
async function writeHash(p: string, revision: number, doc: StoredDoc | string): Promise<void> {
  await redis.hset(
    hashOf(p),
    'revision',
    String(revision),
    'doc',
    typeof doc === 'string' ? doc : JSON.stringify(doc),
  );
  await redis.publish(channelOf(p), String(revision));
}

/** A started ring over the Redis store, with its audit events and error log. */
async function node(p: string, master: MasterKey) {
  const events: AuditEventInput[] = [];
  const errors: { message: string; fields: Record<string, unknown> }[] = [];
  const ring = new SigningKeyRing({
    store: store(p, { masterKey: master }),
    maxTokenLifetimeMs: 60_000,
    // Refresh rarely: changes arrive by notification.
    refreshIntervalMs: 600_000,
    activationDelayMs: 600_000,
    audit: { recordEvent: (event) => events.push(event) },
    logger: {
      warn: () => undefined,
      error: (message, fields) => errors.push({ message, fields: { ...fields } }),
    },
  });
  closers.push(() => ring.close());
  await ring.start();
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: ring,
    clients: { app: { scopes: ['a'] } },
  });
  return { ring, events, errors, issuer };
}

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}

/** Verifies a token the way a service reading the published JWKS does. */
function verifyWithJwks(token: string, jwks: JwkSet): 'valid' | 'refused' {
  const kid = (jwt.decode(token, { complete: true })?.header.kid ?? '') as string;
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (jwk === undefined) return 'refused';
  try {
    const key = createPublicKey({ key: { ...jwk }, format: 'jwk' });
    jwt.verify(token, key, {
      algorithms: ['ES256'],
      issuer: 'https://issuer.test/',
      audience: 'api',
    });
    return 'valid';
  } catch {
    return 'refused';
  }
}

describe('RedisSigningKeyStore: a key set altered in Redis is refused (real Redis)', () => {
  it('refuses a public key swapped in Redis: the JWKS keeps the real key, a token the attacker signs under the real kid verifies nowhere', async () => {
    const p = prefix();
    const master = masterKey(randomBytes(32));
    const { ring, events, errors, issuer } = await node(p, master);
    const kid = ring.signingKey().kid;
    const published = ring.jwks();
    const genuine = issuer.issue({ client: 'app' }).token;
    expect(verifyWithJwks(genuine, published)).toBe('valid');

    // The attack: the attacker's own public key under the real kid, a bumped revision, announced.
    const attacker = newKeyPair('ec', { namedCurve: 'prime256v1' });
    const { revision, doc } = await readHash(p);
    doc.keys[0]!.publicJwk = publicJwk(attacker.privateKey, kid, 'ES256');
    await writeHash(p, revision + 1, doc);
    const forged = jwt.sign({ sub: 'admin', scope: 'a' }, attacker.privateKey, {
      algorithm: 'ES256',
      keyid: kid,
      issuer: 'https://issuer.test/',
      audience: 'api',
      expiresIn: 60,
    });

    // The node reloads (on the notification, or its next refresh).
    await ring.refresh().catch(() => undefined);
    // The ring keeps serving its last good keys: the JWKS is unchanged, the forgery fails there.
    expect(ring.jwks()).toEqual(published);
    expect(verifyWithJwks(forged, ring.jwks())).toBe('refused');
    expect(verifyWithJwks(genuine, ring.jwks())).toBe('valid');
    expect(issuer.issue({ client: 'app' }).kid).toBe(kid);
    const refusal = ring.refresh();
    await expect(refusal).rejects.toBeInstanceOf(SigningKeyError);
    await expect(refusal).rejects.toMatchObject({
      code: 'signing_key_invalid',
      reason: 'tampered',
    });
    expect(events.filter((e) => e.type === 'signing_key.refused')).toEqual([
      expect.objectContaining({
        outcome: 'failure',
        reason: 'signing_key_invalid',
        detail: expect.objectContaining({ problem: 'tampered', keptRevision: revision }),
      }),
    ]);
    // Logged once as an error, however often it is refused again.
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields).toMatchObject({ code: 'signing_key_invalid', problem: 'tampered' });
    expect(JSON.stringify({ events, errors })).not.toContain('PRIVATE');
    // A node starting now refuses the set outright: it never publishes the attacker's key.
    const fresh = new SigningKeyRing({
      store: store(p, { masterKey: master }),
      maxTokenLifetimeMs: 60_000,
      logger: { warn: () => undefined, error: () => undefined },
    });
    closers.push(() => fresh.close());
    await expect(fresh.start()).rejects.toMatchObject({ reason: 'tampered' });
    expect(fresh.jwks().keys).toEqual([]);
  });

  it.each<[string, (doc: StoredDoc, revision: number) => [number, StoredDoc]]>([
    [
      'a public key swapped',
      (doc, r) => {
        const other = newKeyPair('ec', { namedCurve: 'prime256v1' });
        doc.keys[0]!.publicJwk = publicJwk(other.privateKey, doc.keys[0]!.kid, 'ES256');
        return [r, doc];
      },
    ],
    [
      'a retired key made to verify longer',
      (doc, r) => {
        doc.keys[0]!.verifyUntil = Date.now() + 365 * 86_400_000;
        return [r, doc];
      },
    ],
    [
      'the old key made active again',
      (doc, r) => {
        doc.keys[0]!.activeFrom = Date.now() + 1;
        return [r, doc];
      },
    ],
    ['the new key removed', (doc, r) => [r, { ...doc, keys: doc.keys.slice(0, 1) }]],
    [
      'the settings changed',
      (doc, r) => [r, { ...doc, settings: { ...doc.settings, activationDelayMs: 0 } }],
    ],
    ['only the revision bumped', (doc, r) => [r + 1, doc]],
    [
      'the seal removed (written as an unsealed set)',
      (doc, r) => {
        delete doc.v;
        delete doc.seal;
        return [r, doc];
      },
    ],
  ])('refuses a set with %s', async (_what, tamper) => {
    const p = prefix();
    const master = masterKey(randomBytes(32));
    const s = store(p, { masterKey: master });
    const now = Date.now();
    const old = generateSigningKey('ES256', now - 1000, now - 1000);
    const set: SigningKeySet = {
      revision: 1,
      settings: { algorithm: 'ES256', activationDelayMs: 60_000, verifyForMs: 65_000 },
      keys: [{ ...old, verifyUntil: now + 60_000 }, generateSigningKey('ES256', now)],
    };
    expect(await s.save(set)).toBe(true);
    expect((await s.load()).keys.map((k) => k.kid)).toEqual(set.keys.map((k) => k.kid));
    const { revision, doc } = await readHash(p);
    const [nextRevision, altered] = tamper(doc, revision);
    await writeHash(p, nextRevision, altered);
    await expect(s.load()).rejects.toBeInstanceOf(SigningKeyError);
    await expect(s.load()).rejects.toMatchObject({ code: 'signing_key_invalid' });
    // With the master key, even the metadata listing is authenticated.
    await expect(s.loadInfo()).rejects.toBeInstanceOf(SigningKeyError);
  });

  it('refuses a key set written back after rotate({ immediate: true }): the compromised key never signs again', async () => {
    const p = prefix();
    const master = masterKey(randomBytes(32));
    const a = await node(p, master);
    const b = await node(p, master);
    const compromised = a.ring.signingKey().kid;
    // The attacker keeps a copy of the set from before the rotation.
    const before = await readHash(p);

    const next = await a.ring.rotate({ immediate: true });
    await until(() => b.ring.signingKey().kid === next.kid, 'node b to load the rotation');
    const published = a.ring.jwks();
    expect(a.issuer.issue({ client: 'app' }).kid).toBe(next.kid);

    // The rollback: the old set written back as it was, with its own revision, and announced.
    await writeHash(p, before.revision, before.raw);
    for (const n of [a, b]) {
      await n.ring.refresh().catch(() => undefined);
      // Both nodes keep signing with the new key and publishing the same keys.
      expect(n.ring.signingKey().kid).toBe(next.kid);
      expect(n.issuer.issue({ client: 'app' }).kid).toBe(next.kid);
      expect(n.ring.jwks()).toEqual(published);
      expect(n.events.find((e) => e.type === 'signing_key.refused')).toMatchObject({
        reason: 'signing_key_invalid',
        detail: {
          problem: 'rolled_back',
          revision: before.revision,
          keptRevision: before.revision + 1,
        },
      });
      expect(n.errors).toHaveLength(1);
      await expect(n.ring.refresh()).rejects.toMatchObject({ reason: 'rolled_back' });
    }
    // A rotation does not build on the written-back set either: nothing is written.
    await expect(a.ring.rotate()).rejects.toMatchObject({ reason: 'rolled_back' });
    expect((await readHash(p)).raw).toBe(before.raw);

    // The old set under a higher revision does not authenticate: the revision is sealed.
    await writeHash(p, before.revision + 5, before.raw);
    await expect(a.ring.refresh()).rejects.toMatchObject({ reason: 'tampered' });
    expect(a.ring.signingKey().kid).toBe(next.kid);
    expect(a.ring.signingKey().kid).not.toBe(compromised);
  });

  it('re-wraps a set written unsealed (Tokenwarden 0.1) once, checking its public keys; load refuses it until then', async () => {
    const p = prefix();
    const master = masterKey(randomBytes(32));
    const { sealSecret } = await import('@tokenwarden/core/internal');
    const key = generateSigningKey('ES256', Date.now());
    const unsealed = (publicKey: Jwk | undefined) => ({
      keys: [
        {
          ...key,
          publicJwk: publicKey,
          secret: sealSecret(Buffer.from(key.secret), master, key.kid),
        },
      ],
    });
    await redis.hset(hashOf(p), 'revision', '1', 'doc', JSON.stringify(unsealed(key.publicJwk)));
    const s = store(p, { masterKey: master, previousMasterKeys: [master] });
    await expect(s.load()).rejects.toMatchObject({ reason: 'unsealed' });
    expect(await s.rewrap()).toBe(1);
    const loaded = await s.load();
    expect(loaded.revision).toBe(2);
    expect(loaded.keys[0]).toEqual(key);
    // An unsealed set whose public key is not its private key's is not sealed by a re-wrap.
    const q = prefix();
    const other = newKeyPair('ec', { namedCurve: 'prime256v1' });
    await redis.hset(
      hashOf(q),
      'revision',
      '1',
      'doc',
      JSON.stringify(unsealed(publicJwk(other.privateKey, key.kid, 'ES256'))),
    );
    await expect(store(q, { masterKey: master }).rewrap()).rejects.toMatchObject({
      reason: 'tampered',
    });
  });
});
