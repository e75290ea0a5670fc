import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  createAdmin,
  createWarden,
  MemorySink,
  type RequestView,
} from '@tokenwarden/core';
import { mintToken, RedisServer, storeContract, testJwtOptions } from '@tokenwarden/testing';
import { Cluster, Redis } from 'ioredis';
import { RedisStore, subjectNameKey } from '../src';
import { encodeId, KeySpace } from '../src/keys';
import { SubjectNames } from '../src/subject-names';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-names:${randomBytes(6).toString('hex')}:`;
const HOUR = 3_600_000;

let shared: Redis;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

/** Every key under `prefix` (SCAN, never KEYS). */
async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  if (keys.length > 0) await client.unlink(...keys);
}

/** Everything Redis holds under `prefix`: each key, its DUMP and its value read by its type. */
async function everything(client: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const key of await keysUnder(client, prefix)) {
    out.push(key);
    const dump = await client.dumpBuffer(key);
    if (dump !== null) out.push(dump.toString('latin1'));
    const type = await client.type(key);
    if (type === 'hash') out.push(JSON.stringify(await client.hgetall(key)));
    else if (type === 'set') out.push(JSON.stringify(await client.smembers(key)));
    else if (type === 'string') out.push((await client.get(key)) ?? '');
    else out.push(`unexpected type ${type}`);
  }
  return out;
}

/** A request carrying `Authorization: Bearer <token>`. */
function bearer(token: string): RequestView {
  const headers = new Map([['authorization', [`Bearer ${token}`]]]);
  return { method: 'GET', path: '/x', url: '/x', headerValues: (name) => headers.get(name) };
}

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  await deleteKeys(shared, FILE_PREFIX);
  await shared.quit();
});

describe('subject names', () => {
  it('are a keyed hash: 128 bits after a mark no encoded id holds, other per key', () => {
    const key = randomBytes(32);
    const names = new SubjectNames(key);
    const name = names.name('user-1');
    expect(name).toMatch(/^=[A-Za-z0-9_-]{22}$/);
    expect(names.name('user-1')).toBe(name);
    expect(names.name('user-2')).not.toBe(name);
    expect(new SubjectNames(randomBytes(32)).name('user-1')).not.toBe(name);
    expect(new SubjectNames().name('a:b')).toBe(encodeId('a:b'));
    expect(encodeId('=')).not.toContain('=');
    expect(names.tag).toMatch(/^hmac-sha256:[0-9a-f]{16}$/);
    expect(names.tag).toBe(new SubjectNames(Buffer.from(key)).tag);
    expect(new SubjectNames().tag).toBe('clear');
  });

  it('choose the bucket of the sharded layout from the hash, not the id', () => {
    const names = new SubjectNames(randomBytes(32));
    const hashed = new KeySpace('app:', 256, 'sharded', names);
    const clear = new KeySpace('app:', 256, 'sharded');
    const ids = Array.from({ length: 64 }, (_, n) => `subject-${n}`);
    const moved = ids.filter((id) => hashed.of(id).base !== clear.of(id).base);
    expect(moved.length).toBeGreaterThan(32);
    for (const id of ids) {
      const own = hashed.subject(id);
      expect(own.space).toBe(hashed.of(id));
      expect(own.mark).toBe(own.space.subjectMark(id));
      expect(own.index).toBe(own.space.consentIndex(id));
      expect(own.consent('p')).toBe(own.space.consent(id, 'p'));
      expect(own.mark).toBe(`${own.space.base}nbf:sub:${names.name(id)}`);
    }
  });

  it('reads the key from its text form, and refuses anything but 32 bytes without echoing it', () => {
    const key = randomBytes(32);
    expect(subjectNameKey(key.toString('base64url'))).toEqual(key);
    expect(subjectNameKey(`${key.toString('hex')}\n`)).toEqual(key);
    expect(subjectNameKey(key)).toEqual(key);
    const short = randomBytes(16).toString('hex');
    expect(() => subjectNameKey(short)).toThrow(ConfigError);
    try {
      subjectNameKey(short);
    } catch (error) {
      expect(String(error)).not.toContain(short);
    }
    for (const bad of [randomBytes(31), randomBytes(33), Buffer.alloc(32, 7), 'x'.repeat(32)]) {
      expect(
        () => new RedisStore({ client: shared, subjectNameKey: bad as unknown as Buffer }),
      ).toThrow(`'subjectNameKey'`);
    }
  });
});

for (const layout of ['single', 'sharded'] as const) {
  describe(`RedisStore with a subjectNameKey, layout '${layout}'`, () => {
    it("keeps the data subject's id out of every key and value, and still revokes and checks consent", async () => {
      const prefix = nextPrefix();
      const key = randomBytes(32);
      const store = new RedisStore({ client: shared, prefix, layout, subjectNameKey: key });
      const sink = new MemorySink();
      const admin = createAdmin({ store, audit: { sinks: [sink] } });
      const warden = createWarden({ jwt: testJwtOptions(), store, audit: { sinks: [sink] } });
      const marker = randomBytes(8).toString('hex');
      const subject = `ana.maria+${marker}@example.org`;
      const other = `other-${randomBytes(4).toString('hex')}`;
      try {
        const token = mintToken({ now: Date.now() - 2_000, claims: { sub: subject } });
        const bystander = mintToken({ now: Date.now() - 2_000, claims: { sub: other } });
        expect((await warden.check(bearer(token))).outcome).toBe('allow');

        await admin.revokeSubject(subject, { actor: 'dpo' });
        const now = Date.now();
        await store.grantConsent({ subject, purpose: 'marketing', grantedAt: now });
        await store.grantConsent({ subject, purpose: 'analytics', grantedAt: now });
        await store.withdrawConsent({ subject, purpose: 'analytics', withdrawnAt: now + 1 });
        await store.grantConsent({ subject: other, purpose: 'marketing', grantedAt: now });

        const shown = inspect(store, { depth: Infinity, showHidden: true });
        expect(shown).not.toContain(key.toString('hex'));
        expect(shown).not.toContain(inspect(key).slice(8, 40));
        const held = (await everything(shared, prefix)).join('\n');
        for (const needle of [subject, encodeId(subject), marker, `ana.maria`]) {
          expect(held).not.toContain(needle);
        }
        expect(held).not.toContain(other);

        // Reads and writes agree on the names.
        const refused = await warden.check(bearer(token));
        expect(refused.outcome === 'deny' && refused.code).toBe('token_revoked');
        expect((await warden.check(bearer(bystander))).outcome).toBe('allow');
        const names = new SubjectNames(key);
        const keys = new KeySpace(prefix, 256, layout, names);
        expect(await shared.exists(keys.subject(subject).mark)).toBe(1);
        expect(await store.getConsent(subject, 'marketing')).toMatchObject({ grantedAt: now });
        expect(await store.getConsent(subject, 'analytics')).toMatchObject({
          withdrawnAt: now + 1,
        });
        const snapshot = await store.lookup({
          tokenId: 'tok',
          subject,
          consent: { subject, purpose: 'marketing' },
        });
        expect(snapshot.notBefore.subject).toBeGreaterThanOrEqual(now - 1_000);
        expect(snapshot.consent).toMatchObject({ subject, purpose: 'marketing' });
        // A consent record of another subject, in another bucket or the same one.
        const across = await store.lookup({
          tokenId: 'tok',
          subject,
          consent: { subject: other, purpose: 'marketing' },
        });
        expect(across.consent).toMatchObject({ subject: other, grantedAt: now });
        expect((await store.consentRecords(subject)).map((r) => r.purpose)).toEqual([
          'analytics',
          'marketing',
        ]);

        // Erasure: the records go, the mark stays, the token stays refused.
        expect(await store.eraseConsent(subject)).toEqual(['analytics', 'marketing']);
        expect(await store.consentRecords(subject)).toEqual([]);
        expect(await store.getConsent(subject, 'marketing')).toBeUndefined();
        expect(await shared.exists(keys.subject(subject).index)).toBe(0);
        const after = await warden.check(bearer(token));
        expect(after.outcome === 'deny' && after.code).toBe('token_revoked');
        expect(await store.getConsent(other, 'marketing')).toMatchObject({ grantedAt: now });
        expect((await everything(shared, prefix)).join('\n')).not.toContain(marker);
      } finally {
        await warden.close();
        await admin.close();
        await store.close();
      }
    });

    it('refuses to serve with a naming other than the one Redis records', async () => {
      const key = randomBytes(32);
      const hashedPrefix = nextPrefix();
      const open = (prefix: string, subjectNameKey?: Buffer) =>
        new RedisStore({
          client: shared,
          prefix,
          layout,
          ...(subjectNameKey === undefined ? {} : { subjectNameKey }),
        });
      const first = open(hashedPrefix, key);
      const clear = open(hashedPrefix);
      const otherKey = open(hashedPrefix, randomBytes(32));
      const same = open(hashedPrefix, Buffer.from(key));
      const clearPrefix = nextPrefix();
      const existing = open(clearPrefix);
      const late = open(clearPrefix, key);
      try {
        await first.setNotBefore('subject', 'user-1', Date.now(), Date.now() + HOUR);
        const query = { tokenId: 't', subject: 'user-1' };
        for (const store of [clear, otherKey]) {
          await expect(store.lookup(query)).rejects.toThrow(ConfigError);
          await expect(store.ping()).rejects.toThrow(/subjectNameKey/);
          await expect(
            store.setNotBefore('subject', 'user-2', Date.now(), Date.now() + HOUR),
          ).rejects.toThrow(ConfigError);
          await expect(
            store.grantConsent({ subject: 'user-2', purpose: 'p', grantedAt: Date.now() }),
          ).rejects.toThrow(ConfigError);
          await expect(store.getConsent('user-2', 'p')).rejects.toThrow(ConfigError);
          await expect(store.eraseConsent('user-2')).rejects.toThrow(ConfigError);
        }
        await expect(clear.lookup(query)).rejects.toThrow(
          /name data subjects with keyed hashes \(hmac-sha256:[0-9a-f]{16}\), this store with the ids in clear/,
        );
        // A warden on such a store refuses its requests rather than serve without the marks.
        const logged: string[] = [];
        const warden = createWarden({
          jwt: testJwtOptions(),
          store: clear,
          audit: { sinks: [new MemorySink()] },
          logger: {
            warn: () => undefined,
            error: (message, fields) => void logged.push(`${message} ${inspect(fields)}`),
          },
        });
        try {
          const token = mintToken({ now: Date.now() - 2_000, claims: { sub: 'user-1' } });
          const decision = await warden.check(bearer(token));
          expect(decision.outcome === 'deny' && decision.code).toBe('store_unavailable');
          expect(logged.join('\n')).toContain('subjectNameKey');
        } finally {
          await warden.close();
        }
        expect((await same.lookup(query)).notBefore.subject).toBeDefined();
        await same.ping();

        // A deployment written with names in clear (it holds an epoch, and no naming record).
        await existing.setNotBefore('subject', 'user-1', Date.now(), Date.now() + HOUR);
        await existing.lookup(query);
        await expect(late.lookup(query)).rejects.toThrow(
          /with the ids in clear, this store with keyed hashes/,
        );
        await expect(late.ping()).rejects.toThrow(ConfigError);
        // Nothing recorded: the clear stores serve on.
        expect((await existing.lookup(query)).notBefore.subject).toBeDefined();
        const error = await late.lookup(query).catch((e: unknown) => e);
        expect(String(error)).not.toContain(key.toString('hex'));
        expect(String(error)).not.toContain(key.toString('base64url'));
      } finally {
        await Promise.all([first, clear, otherKey, same, existing, late].map((s) => s.close()));
      }
    });
  });

  storeContract(
    `RedisStore with a subjectNameKey, layout '${layout}'`,
    async (clock) => {
      const prefix = nextPrefix();
      const key = randomBytes(32);
      const open = () =>
        new RedisStore({
          client: shared,
          prefix,
          clock,
          layout,
          subjectNameKey: key,
          commandTimeoutMs: 2_000,
        });
      return {
        store: open(),
        cleanup: () => deleteKeys(shared, prefix),
        stateLoss: { loseState: () => deleteKeys(shared, prefix), openAnother: open },
      };
    },
    { stateLoss: true },
  );
}

describe('RedisStore with a subjectNameKey on a one-node Redis Cluster', () => {
  let server: RedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    server = await RedisServer.start({ cluster: true });
    cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], { lazyConnect: true });
    await cluster.connect();
  });

  afterAll(async () => {
    await cluster.quit();
    await server.dispose();
  });

  // The naming check reads the naming record and the epoch hash in one script: one slot.
  storeContract("RedisStore with a subjectNameKey, layout 'sharded', Cluster", async (clock) => ({
    store: new RedisStore({
      client: cluster,
      prefix: nextPrefix(),
      clock,
      commandTimeoutMs: 2_000,
      layout: 'sharded',
      subjectNameKey: randomBytes(32),
    }),
  }));
});
