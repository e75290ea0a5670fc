import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tokenwarden/core';
import type { AuditEvent } from '@tokenwarden/core/internal';
import { RedisStore } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { runCaptured } from './support';

/**
 * `tokenwarden state migrate-keys --hash-subject-names`: the subject marks and consent records a
 * RedisStore wrote with names in clear are in force for a store with the subjectNameKey, no key
 * or value names the subject any more, and a store without the key refuses. On the shared test
 * Redis, under a prefix of its own.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-names:${randomBytes(6).toString('hex')}:`;
const HOUR = 3_600_000;
let redis: Redis;
let dir: string;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-names-'));
});

afterAll(async () => {
  for (const key of await keysOf(PREFIX)) await redis.unlink(key);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

async function keysOf(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}

/** Every key of the prefix and its value. */
async function everything(): Promise<string> {
  const out: string[] = [];
  for (const key of await keysOf(PREFIX)) {
    const type = await redis.type(key);
    out.push(
      key,
      JSON.stringify(type === 'hash' ? await redis.hgetall(key) : await redis.smembers(key)),
    );
  }
  return out.join('\n');
}

function cli(env: NodeJS.ProcessEnv, ...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, '--json', ...args], env);
}

describe('state migrate-keys --hash-subject-names', () => {
  const key = randomBytes(32);
  const marker = randomBytes(6).toString('hex');
  const subject = `jane.${marker}@example.org`;
  const now = Date.now();

  it('refuses without the key, naming where to put it', async () => {
    const run = await cli({}, 'state', 'migrate-keys', '--hash-subject-names', '--no-audit-stream');
    expect(run.code).toBe(2);
    expect(run.err).toContain('TOKENWARDEN_SUBJECT_NAME_KEY');
    const bad = await cli(
      { TOKENWARDEN_SUBJECT_NAME_KEY: key.toString('base64url') },
      'state',
      'migrate-keys',
      '--hash-subject-names',
      '--layout',
      'ring',
      '--no-audit-stream',
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--layout');
    expect(bad.err).not.toContain(key.toString('base64url'));
  });

  it('moves the keys to hashed names, records the naming and deletes the names in clear', async () => {
    const clear = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
    const hashed = new RedisStore({
      url: REDIS_URL,
      prefix: PREFIX,
      commandTimeoutMs: 2_000,
      subjectNameKey: key,
    });
    try {
      await clear.lookup({ tokenId: 'x', subject: 'x' });
      await clear.setNotBefore('subject', subject, now - 1_000, now + HOUR);
      await clear.grantConsent({ subject, purpose: 'marketing', grantedAt: now });

      const audit = join(dir, 'audit.jsonl');
      const run = await cli(
        { TOKENWARDEN_SUBJECT_NAME_KEY: key.toString('base64url') },
        'state',
        'migrate-keys',
        '--hash-subject-names',
        '--no-audit-stream',
        '--audit-file',
        audit,
        '--actor',
        'ops',
      );
      expect(run.err).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.out)).toEqual({
        marks: 1,
        consents: 1,
        unchanged: 2,
        expired: 0,
        unreadable: 0,
        deleted: 3,
        recorded: true,
      });
      expect(await everything()).not.toContain(marker);
      const events = readFileSync(audit, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as AuditEvent);
      expect(events).toEqual([
        expect.objectContaining({
          type: 'state.initialized',
          actor: 'ops',
          detail: expect.objectContaining({ subjectNames: 'hashed', marks: 1, consents: 1 }),
        }),
      ]);
      expect((await hashed.lookup({ tokenId: 't', subject })).notBefore.subject).toBe(now - 1_000);
      expect(await hashed.getConsent(subject, 'marketing')).toMatchObject({ grantedAt: now });
      const late = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
      await expect(late.lookup({ tokenId: 't', subject })).rejects.toThrow(ConfigError);
      await late.close();
    } finally {
      await Promise.all([clear.close(), hashed.close()]);
    }
  }, 20_000);
});
