import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tokenwarden/core';
import { Redis } from 'ioredis';
import { migrateSubjectNames, RedisStore } from '../src';
import { NAMING_RECHECK_MS } from '../src/store-naming';

/** The shared server: isolated by a random prefix per file, never flushed. */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const FILE_PREFIX = `tw-names-mig:${randomBytes(6).toString('hex')}:`;
const HOUR = 3_600_000;

let shared: Redis;
let count = 0;
const nextPrefix = () => `${FILE_PREFIX}${(count += 1)}:`;

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await shared.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}

/** Every key under `prefix` and every value, read by its type. */
async function everything(prefix: string): Promise<string> {
  const out: string[] = [];
  for (const key of await keysUnder(prefix)) {
    const type = await shared.type(key);
    const value =
      type === 'hash'
        ? await shared.hgetall(key)
        : type === 'set'
          ? await shared.smembers(key)
          : await shared.get(key);
    out.push(key, JSON.stringify(value));
  }
  return out.join('\n');
}

beforeAll(async () => {
  shared = new Redis(REDIS_URL, { lazyConnect: true });
  await shared.connect();
});

afterAll(async () => {
  const keys = await keysUnder(FILE_PREFIX);
  if (keys.length > 0) await shared.unlink(...keys);
  await shared.quit();
});

for (const layout of ['single', 'sharded'] as const) {
  describe(`migrateSubjectNames, layout '${layout}'`, () => {
    it('moves marks and consent records to hashed names, records the naming, and deletes the names in clear', async () => {
      const prefix = nextPrefix();
      const key = randomBytes(32);
      const marker = randomBytes(6).toString('hex');
      const alice = `alice.${marker}@example.org`;
      const bob = `bob:${marker}`;
      const open = (subjectNameKey?: Buffer) =>
        new RedisStore({
          client: shared,
          prefix,
          layout,
          commandTimeoutMs: 2_000,
          ...(subjectNameKey === undefined ? {} : { subjectNameKey }),
        });
      const before = open();
      const after = open(key);
      const late = open();
      try {
        const now = Date.now();
        await before.setNotBefore('subject', alice, now - 1_000, now + HOUR);
        await before.setNotBefore('client', 'web-app', now - 1_000, now + HOUR);
        await before.revokeToken('tok-1', now + HOUR);
        await before.grantConsent({ subject: alice, purpose: 'marketing', grantedAt: now });
        await before.grantConsent({ subject: alice, purpose: 'analytics', grantedAt: now });
        await before.withdrawConsent({ subject: alice, purpose: 'analytics', withdrawnAt: now });
        await before.grantConsent({ subject: bob, purpose: 'marketing', grantedAt: now });
        await before.lookup({ tokenId: 't', subject: alice });
        // A store with the key refuses while the keys name subjects in clear.
        await expect(after.lookup({ tokenId: 't', subject: alice })).rejects.toThrow(ConfigError);

        const result = await migrateSubjectNames({
          client: shared,
          prefix,
          layout,
          subjectNameKey: key,
          settleMs: 0,
        });
        expect(result).toEqual({
          marks: 1,
          consents: 3,
          unchanged: 4,
          expired: 0,
          unreadable: 0,
          // One mark, three records, two indexes.
          deleted: 6,
          recorded: true,
        });
        const held = await everything(prefix);
        expect(held).not.toContain(marker);
        expect(held).toContain('web-app');
        expect(held).toContain('tok-1');

        // The store with the key serves what was written in clear.
        const snapshot = await after.lookup({
          tokenId: 'tok-1',
          subject: alice,
          client: 'web-app',
          consent: { subject: alice, purpose: 'marketing' },
        });
        expect(snapshot).toMatchObject({
          tokenRevoked: true,
          notBefore: { subject: now - 1_000, client: now - 1_000 },
          consent: { subject: alice, purpose: 'marketing', grantedAt: now },
        });
        expect((await after.consentRecords(alice)).map((r) => r.purpose)).toEqual([
          'analytics',
          'marketing',
        ]);
        expect(await after.getConsent(alice, 'analytics')).toMatchObject({ withdrawnAt: now });
        expect(await after.getConsent(bob, 'marketing')).toMatchObject({ grantedAt: now });
        expect(await after.eraseConsent(alice)).toEqual(['analytics', 'marketing']);
        expect((await after.lookup({ tokenId: 't', subject: alice })).notBefore.subject).toBe(
          now - 1_000,
        );

        // A store without the key refuses; a second run changes nothing.
        await expect(late.lookup({ tokenId: 't', subject: alice })).rejects.toThrow(
          /keyed hashes .* this store with the ids in clear/,
        );
        const keysBefore = await keysUnder(prefix);
        expect(
          await migrateSubjectNames({ client: shared, prefix, layout, subjectNameKey: key }),
        ).toEqual({
          marks: 0,
          consents: 0,
          // No key named in clear is left to compare.
          unchanged: 0,
          expired: 0,
          unreadable: 0,
          deleted: 0,
          recorded: false,
        });
        expect(await keysUnder(prefix)).toEqual(keysBefore);
        await expect(
          migrateSubjectNames({ client: shared, prefix, layout, subjectNameKey: randomBytes(32) }),
        ).rejects.toThrow(ConfigError);
      } finally {
        await Promise.all([before.close(), after.close(), late.close()]);
      }
    });
  });
}

describe('a store that checked its naming before the keys moved', () => {
  it(`refuses within ${NAMING_RECHECK_MS} ms of the move, with no call waiting for the re-check`, async () => {
    const prefix = nextPrefix();
    const store = new RedisStore({ client: shared, prefix, commandTimeoutMs: 2_000 });
    try {
      const query = { tokenId: 't', subject: 'user-1' };
      await store.setNotBefore('subject', 'user-1', Date.now(), Date.now() + HOUR);
      expect((await store.lookup(query)).notBefore.subject).toBeDefined();
      await migrateSubjectNames({
        client: shared,
        prefix,
        subjectNameKey: randomBytes(32),
        settleMs: 0,
      });
      await sleep(NAMING_RECHECK_MS + 50);
      // This call starts the re-check and is answered without it.
      await store.lookup(query);
      await sleep(200);
      await expect(store.lookup(query)).rejects.toThrow(ConfigError);
    } finally {
      await store.close();
    }
  }, 15_000);
});
