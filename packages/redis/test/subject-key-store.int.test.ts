import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  masterKey,
  newWrappedKey,
  PSEUDONYM_KEY_NAME,
  rewrapSubjectKeys,
  SubjectCipher,
} from '@tokenwarden/core/internal';
import Redis from 'ioredis';
import { RedisSubjectKeyStore } from '../src/subject-key-store';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-subject-keys-${process.pid}-${Date.now().toString(36)}:`;
const redis = new Redis(URL);

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('RedisSubjectKeyStore (real Redis)', () => {
  it('keeps the first key stored for a name, loads many at once, destroys one', async () => {
    const master = masterKey(randomBytes(32));
    const a = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    const b = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    try {
      const first = newWrappedKey('ps:one', master).wrapped;
      const second = newWrappedKey('ps:one', master).wrapped;
      const stored = await a.create(new Map([['ps:one', first]]));
      const raced = await b.create(
        new Map([
          ['ps:one', second],
          ['ps:two', newWrappedKey('ps:two', master).wrapped],
        ]),
      );
      expect(stored.get('ps:one')).toEqual(first);
      expect(raced.get('ps:one')).toEqual(first);
      expect([...(await a.load(['ps:one', 'ps:two', 'ps:none'])).keys()]).toEqual([
        'ps:one',
        'ps:two',
      ]);
      expect(await a.destroy('ps:one')).toBe(true);
      expect(await a.destroy('ps:one')).toBe(false);
      // A rewrap of a key destroyed meanwhile does not bring it back.
      await b.replace(new Map([['ps:one', second]]));
      expect((await a.load(['ps:one'])).size).toBe(0);
      const names: string[] = [];
      for await (const name of a.names()) names.push(name);
      expect(names).toEqual(['ps:two']);
      // Only pseudonyms and wrapped keys are stored: one hash under the prefix.
      expect(await redis.keys(`${PREFIX}*`)).toEqual([a.description]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('serves a SubjectCipher and a master key rotation', async () => {
    const old = masterKey(randomBytes(32));
    const next = masterKey(randomBytes(32));
    const store = new RedisSubjectKeyStore({ url: URL, prefix: `${PREFIX}rot:` });
    try {
      const sealed = await new SubjectCipher({ store, masterKey: old }).seal('kim', 'evidence-1');
      expect(await rewrapSubjectKeys(store, [next, old])).toBe(2);
      const names: string[] = [];
      for await (const name of store.names()) names.push(name);
      expect(names).toContain(PSEUDONYM_KEY_NAME);
      expect(await new SubjectCipher({ store, masterKey: next }).open(sealed)).toBe('evidence-1');
      await expect(new SubjectCipher({ store, masterKey: old }).open(sealed)).rejects.toThrow(
        /not configured/,
      );
    } finally {
      await store.close();
    }
  });
});
