import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { createWarden, MASTER_KEY_ENV } from '@tokenwarden/core';
import { masterKey, MemorySink, SubjectOpener } from '@tokenwarden/core/internal';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import Redis from 'ioredis';
import { RedisStore } from '../src/redis-store';
import { RedisSubjectKeyStore } from '../src/subject-key-store';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-default-sealing-${process.pid}-${Date.now().toString(36)}:`;
const SUBJECT = 'jane.doe@example.com';
const redis = new Redis(URL);
const saved = process.env[MASTER_KEY_ENV];

afterEach(() => {
  if (saved === undefined) delete process.env[MASTER_KEY_ENV];
  else process.env[MASTER_KEY_ENV] = saved;
});
afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('a warden on RedisStore with $TOKENWARDEN_MASTER_KEY (real Redis)', () => {
  it('seals subjects with keys kept in the same Redis, where erase and readers find them', async () => {
    const key = randomBytes(32);
    process.env[MASTER_KEY_ENV] = key.toString('base64url');
    const sink = new MemorySink();
    const warden = createWarden({
      jwt: testJwtOptions(),
      store: new RedisStore({ url: URL, prefix: PREFIX }),
      audit: { sinks: [sink], chainKey: randomBytes(32), fingerprintKey: randomBytes(32) },
    });
    const token = mintToken({ claims: { sub: SUBJECT } });
    const decision = await warden.check({
      method: 'GET',
      path: '/customers/1',
      url: '/customers/1',
      headerValues: (name) => (name === 'authorization' ? [`Bearer ${token}`] : undefined),
    });
    expect(decision.outcome).toBe('allow');
    await warden.close({ store: true });

    const [event] = sink.events;
    expect(event?.subject).toMatch(/^ps:/);
    expect(JSON.stringify(sink.events)).not.toContain('jane.doe');
    // The keys are in the store's Redis: a reader with its own connection opens the copy.
    const keys = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    try {
      const opener = new SubjectOpener({ store: keys, masterKeys: [masterKey(key)] });
      expect((await opener.open(event!)).subject).toBe(SUBJECT);
      // Erasure destroys the key: the same event then reads as erased.
      expect(await keys.destroy(event!.subject!)).toBe(true);
      const after = new SubjectOpener({ store: keys, masterKeys: [masterKey(key)] });
      expect((await after.open(event!)).subject).toBe(`erased:${event!.subject}`);
    } finally {
      await keys.close();
    }
  });
});
