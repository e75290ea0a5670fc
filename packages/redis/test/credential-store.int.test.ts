import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiKeys,
  ConfigError,
  MemoryCredentialStore,
  MemorySink,
  RefreshTokens,
  StoreUnavailableError,
  createAdmin,
  verifyApiKey,
} from '@tokenwarden/core/internal';
import { FakeClock, RedisServer, credentialStoreContract } from '@tokenwarden/testing';
import { Cluster, Redis } from 'ioredis';
import { RedisCredentialStore, RedisStore } from '../src';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-test:${randomBytes(6).toString('hex')}:`;

let shared: Redis;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

async function deleteKeys(prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await shared.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await shared.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Every byte stored under `prefix`: key names and the values of every field and member. */
async function dump(prefix: string): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await shared.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await shared.type(key);
      if (type === 'hash') parts.push(...Object.entries(await shared.hgetall(key)).flat());
      else if (type === 'zset') parts.push(...(await shared.zrange(key, '0', '-1', 'WITHSCORES')));
      else if (type === 'string') parts.push((await shared.get(key)) ?? '');
      else parts.push(`<${type}>`);
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  await deleteKeys(FILE_PREFIX);
  await shared.quit();
});

credentialStoreContract('RedisCredentialStore with a client passed in', async (clock) => {
  const prefix = nextPrefix();
  const store = new RedisCredentialStore({
    client: shared,
    prefix,
    clock,
    commandTimeoutMs: 2_000,
  });
  return { store, cleanup: async () => void (await deleteKeys(prefix)) };
});

credentialStoreContract('RedisCredentialStore opened from a URL', async (clock) => {
  const prefix = nextPrefix();
  const store = new RedisCredentialStore({
    url: REDIS_URL,
    prefix,
    clock,
    commandTimeoutMs: 2_000,
  });
  return { store, cleanup: async () => void (await deleteKeys(prefix)) };
});

describe('RedisCredentialStore on a one-node Redis Cluster', () => {
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

  it('enforces CROSSSLOT, so the contract below proves the declared keys share one slot', async () => {
    await expect(cluster.eval('return 1', 2, 'a', 'b')).rejects.toThrow(/CROSSSLOT/);
  });

  credentialStoreContract('RedisCredentialStore with a Cluster client', async (clock) => ({
    store: new RedisCredentialStore({
      client: cluster,
      prefix: nextPrefix(),
      clock,
      commandTimeoutMs: 2_000,
    }),
  }));
});

describe('RedisCredentialStore', () => {
  it('stores no API key or refresh token in clear: a scan of every byte finds none', async () => {
    const prefix = nextPrefix();
    const store = new RedisCredentialStore({ client: shared, prefix, commandTimeoutMs: 2_000 });
    const admin = createAdmin({ store: new RedisStore({ client: shared, prefix }) });
    const apiKeys = new ApiKeys({ store });
    const refresh = new RefreshTokens({ store, revoker: admin });
    const created = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    const rotated = await apiKeys.rotate(created.record.keyId);
    const first = await refresh.issue({ subject: 'u1', client: 'web', scopes: ['a'] });
    const second = await refresh.rotate(first.refreshToken);
    expect(second.ok).toBe(true);

    const stored = await dump(prefix);
    expect(stored).toContain(created.record.hash); // the hash is there…
    for (const secret of [
      created.key,
      rotated.key,
      first.refreshToken,
      second.ok ? second.refreshToken : '',
    ]) {
      expect(secret.length).toBeGreaterThan(40);
      expect(stored).not.toContain(secret); // …the credential is not,
      expect(stored).not.toContain(secret.slice(-38)); // nor its random part alone.
    }
    await admin.close();
    await store.close();
  });

  it('verifies a key created through another store instance (another node)', async () => {
    const prefix = nextPrefix();
    const writer = new RedisCredentialStore({ client: shared, prefix, commandTimeoutMs: 2_000 });
    const reader = new RedisCredentialStore({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
    const { key, record } = await new ApiKeys({ store: writer }).create({
      client: 'billing',
      scopes: ['orders:read'],
    });
    const result = await verifyApiKey(key, { store: reader }, Date.now());
    expect(result.ok && result.token.tokenId).toBe(record.keyId);
    await new ApiKeys({ store: writer }).revoke(record.keyId);
    const after = await verifyApiKey(key, { store: reader }, Date.now());
    expect(!after.ok && after.failure.code).toBe('token_revoked');
    await reader.close();
  });

  it('detects refresh reuse across nodes and revokes the access tokens in the shared store', async () => {
    const prefix = nextPrefix();
    const clock = new FakeClock();
    const sink = new MemorySink();
    const nodeA = new RedisCredentialStore({
      client: shared,
      prefix,
      clock,
      commandTimeoutMs: 2_000,
    });
    const nodeB = new RedisCredentialStore({
      url: REDIS_URL,
      prefix,
      clock,
      commandTimeoutMs: 2_000,
    });
    const wardenStore = new RedisStore({ client: shared, prefix, clock });
    const admin = createAdmin({ store: wardenStore, clock, audit: { sinks: [sink] } });
    const a = new RefreshTokens({ store: nodeA, revoker: admin, audit: admin, clock });
    const b = new RefreshTokens({ store: nodeB, revoker: admin, audit: admin, clock });
    const exp = clock.now() + 600_000;
    const first = await a.issue(
      { subject: 'u1', client: 'web', scopes: ['a'] },
      {
        tokenId: 'jti-1',
        expiresAt: exp,
      },
    );
    const refreshed = await b.refresh(first.refreshToken, () => ({
      tokenId: 'jti-2',
      expiresAt: exp,
    }));
    expect(refreshed.ok).toBe(true);

    const reuse = await a.rotate(first.refreshToken);
    expect(reuse).toEqual({ ok: false, code: 'token_revoked', reason: 'reuse_detected' });
    const snapshot = (tokenId: string) =>
      wardenStore.lookup({ tokenId, subject: 'u1', client: 'web' });
    expect((await snapshot('jti-1')).tokenRevoked).toBe(true);
    expect((await snapshot('jti-2')).tokenRevoked).toBe(true);
    await admin.flushAudit();
    expect(sink.events.map((e) => e.type)).toContain('refresh.reuse_detected');
    await admin.close();
    await nodeB.close();
  });

  it('rejects with StoreUnavailableError when Redis cannot answer, never with a guess', async () => {
    const store = new RedisCredentialStore({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 100 });
    await expect(store.findApiKey('0'.repeat(64))).rejects.toBeInstanceOf(StoreUnavailableError);
    const { key } = await new ApiKeys({ store: new MemoryCredentialStore() }).create({
      client: 'c',
      scopes: [],
    });
    const verified = await verifyApiKey(key, { store }, Date.now());
    expect(!verified.ok && verified.failure.code).toBe('store_unavailable');
    await store.close();
  });

  it('refuses ambiguous or missing connection options with a ConfigError', () => {
    expect(() => new RedisCredentialStore({})).toThrow(ConfigError);
    expect(() => new RedisCredentialStore({ url: REDIS_URL, client: shared })).toThrow(ConfigError);
    expect(() => new RedisCredentialStore({ url: 'http://x' })).toThrow(ConfigError);
  });
});
