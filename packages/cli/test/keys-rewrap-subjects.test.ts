import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadChainKey, masterKey, SubjectCipher } from '@tokenwarden/core/internal';
import { RedisChainKeyStore, RedisSubjectKeyStore } from '@tokenwarden/redis';
import Redis from 'ioredis';
import { runCaptured } from './support';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-rewrap-subjects-${process.pid}-${Date.now().toString(36)}:`;

describe('tokenwarden keys rewrap: data subject keys and the audit chain key', () => {
  let dir: string;
  const oldText = randomBytes(32).toString('base64url');
  const newText = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-rewrap-'));
    await writeFile(join(dir, 'old.key'), oldText);
    await writeFile(join(dir, 'new.key'), newText);
  });

  afterAll(async () => {
    const redis = new Redis(URL);
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-wraps them under the new master key; the keys themselves stay the same', async () => {
    const subjects = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    const chainStore = new RedisChainKeyStore({ url: URL, prefix: PREFIX });
    try {
      const old = masterKey(oldText);
      const sealed = await new SubjectCipher({ store: subjects, masterKey: old }).seal('max', 'x');
      const chainKey = await loadChainKey({ store: chainStore, masterKey: old });

      const run = await runCaptured(
        [
          ...['--prefix', PREFIX, '--json', 'keys', 'rewrap'],
          ...['--previous-master-key-file', join(dir, 'old.key')],
          ...['--master-key-file', join(dir, 'new.key'), '--audit-file', join(dir, 'a.jsonl')],
        ],
        { REDIS_URL: URL },
      );
      expect([run.code, run.err]).toEqual([0, '']);
      expect(JSON.parse(run.out)).toEqual({
        rewrapped: 0,
        subjectKeysRewrapped: 2,
        chainKeyRewrapped: true,
        consentRecordsResealed: 0,
        consentRecordsPlain: 0,
        consentRecordsUnreadable: 0,
      });

      const next = masterKey(newText);
      expect(await new SubjectCipher({ store: subjects, masterKey: next }).open(sealed)).toBe('x');
      expect(await loadChainKey({ store: chainStore, masterKey: next, create: false })).toEqual(
        chainKey,
      );
    } finally {
      await subjects.close();
      await chainStore.close();
    }
  });
});
