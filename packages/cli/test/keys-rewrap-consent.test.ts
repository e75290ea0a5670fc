import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { masterKey, RecordCipher } from '@tokenwarden/core/internal';
import { RedisStore } from '@tokenwarden/redis';
import Redis from 'ioredis';
import { runCaptured } from './support';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-rewrap-consent-${process.pid}-${Date.now().toString(36)}:`;

/** Every byte stored under the prefix (field values and the DUMP of each key). */
async function everything(redis: Redis): Promise<string> {
  const out: string[] = [];
  for (const key of await redis.keys(`${PREFIX}*`)) {
    if ((await redis.type(key)) === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    const dump = await redis.dumpBuffer(key);
    if (dump !== null) out.push(dump.toString('latin1'));
  }
  return out.join('\n');
}

describe('tokenwarden keys rewrap: consent records', () => {
  const redis = new Redis(URL);
  let dir: string;
  const oldText = randomBytes(32).toString('base64url');
  const newText = randomBytes(32).toString('base64url');
  const rewrap = (...more: string[]) =>
    runCaptured(
      [
        ...['--prefix', PREFIX, 'keys', 'rewrap'],
        ...['--previous-master-key-file', join(dir, 'old.key')],
        ...['--master-key-file', join(dir, 'new.key'), '--audit-file', join(dir, 'a.jsonl')],
        ...more,
      ],
      { REDIS_URL: URL },
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-rewrap-consent-'));
    await writeFile(join(dir, 'old.key'), oldText);
    await writeFile(join(dir, 'new.key'), newText);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-seals them under the new master key, in both layouts; a node with only the new key reads them', async () => {
    const old = masterKey(oldText);
    const next = masterKey(newText);
    for (const layout of ['single', 'sharded'] as const) {
      const store = new RedisStore({
        url: URL,
        prefix: PREFIX,
        layout,
        logger: false,
        recordCipher: new RecordCipher(old),
      });
      try {
        await store.grantConsent({
          subject: `${layout}@example.com`,
          purpose: 'newsletter',
          grantedAt: Date.now(),
          notice: 'privacy-notice@2030-01',
          evidence: `form-${layout}`,
        });
      } finally {
        await store.close();
      }
    }
    expect(await everything(redis)).toContain(`rc1.${old.id}.`);

    const run = await rewrap();
    expect([run.code, run.err]).toEqual([0, '']);
    expect(run.out).toContain('consent records re-sealed: 2');
    const stored = await everything(redis);
    expect(stored).toContain(`rc1.${next.id}.`);
    expect(stored).not.toContain(old.id);
    expect(stored).not.toContain('form-sharded');

    for (const layout of ['single', 'sharded'] as const) {
      const store = new RedisStore({
        url: URL,
        prefix: PREFIX,
        layout,
        logger: false,
        recordCipher: new RecordCipher(next),
      });
      try {
        expect(await store.getConsent(`${layout}@example.com`, 'newsletter')).toMatchObject({
          notice: 'privacy-notice@2030-01',
          evidence: `form-${layout}`,
        });
      } finally {
        await store.close();
      }
    }

    // Nothing left under the previous key: a second run re-seals nothing.
    const again = await rewrap('--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ consentRecordsResealed: 0 });
  });

  it('leaves a record kept in clear as it is, unless --seal-plain-consent', async () => {
    const plain = new RedisStore({ url: URL, prefix: PREFIX, logger: false });
    try {
      await plain.grantConsent({
        subject: 'clear@example.com',
        purpose: 'newsletter',
        grantedAt: Date.now(),
        evidence: 'form-in-clear',
      });
    } finally {
      await plain.close();
    }
    const left = await rewrap();
    expect(left.code).toBe(0);
    expect(left.out).toContain('consent records re-sealed: 0');
    expect(left.out).toContain('consent records in clear: 1');
    expect(await everything(redis)).toContain('form-in-clear');

    const sealed = await rewrap('--seal-plain-consent');
    expect(sealed.code).toBe(0);
    expect(sealed.out).toContain('consent records re-sealed: 1');
    expect(await everything(redis)).not.toContain('form-in-clear');
  });
});
