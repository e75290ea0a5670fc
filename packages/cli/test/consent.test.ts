import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createWarden, evaluateConsent } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
import { testJwtOptions } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { runCaptured, TEST_POLICY } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-test:${randomBytes(6).toString('hex')}:`;
let redis: Redis;

const POLICY = TEST_POLICY;

/** Runs the CLI against the test prefix; resolves the exit code and both outputs. */
function cli(...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], {});
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
});

describe('tokenwarden consent', () => {
  it('grant, show, withdraw: the records the API nodes check', async () => {
    const store = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
    const warden = createWarden({ jwt: testJwtOptions(), store, purposes: ['marketing'] });

    const none = await cli('--json', 'consent', 'show', 'user-1', 'marketing');
    expect(JSON.parse(none.out)).toEqual({
      subject: 'user-1',
      purpose: 'marketing',
      status: 'none',
    });

    const granted = await cli(
      'consent',
      'grant',
      'user-1',
      'marketing',
      '--any-purpose',
      '--expires-in',
      '365d',
      '--source',
      'form-7',
    );
    expect(granted.code).toBe(0);
    expect(granted.out).toMatch(/status\s+active/);
    const record = await warden.getConsent('user-1', 'marketing');
    expect(record).toMatchObject({ source: 'form-7' });
    expect(evaluateConsent(record, Date.now(), Date.now())).toBe('pass');

    const shown = JSON.parse((await cli('--json', 'consent', 'show', 'user-1', 'marketing')).out);
    expect(shown).toMatchObject({ subject: 'user-1', status: 'active', source: 'form-7' });
    expect(Date.parse(shown.expiresAt)).toBeGreaterThan(Date.now() + 364 * 86_400_000);

    const issuedBefore = Date.now();
    expect((await cli('consent', 'withdraw', 'user-1', 'marketing', '--any-purpose')).code).toBe(0);
    const after = await warden.getConsent('user-1', 'marketing');
    expect(evaluateConsent(after, issuedBefore, Date.now())).toBe('consent_withdrawn');
    const human = await cli('consent', 'show', 'user-1', 'marketing');
    expect(human.out).toMatch(/status\s+withdrawn/);
    await warden.close();
    await store.close();
  });

  it('with a policy, records consent only for its purposes based on consent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-cli-consent-'));
    const policy = join(dir, 'tokenwarden.policy.yaml');
    writeFileSync(policy, POLICY);
    try {
      const contract = await cli('consent', 'grant', 'u', 'order_fulfilment', '--policy', policy);
      expect(contract.code).toBe(2);
      expect(contract.err).toMatch(/rests on contract, not consent/);
      const unknown = await cli('consent', 'withdraw', 'u', 'profiling', '--policy', policy);
      expect(unknown.code).toBe(2);
      expect(unknown.err).toMatch(/not declared in the policy/);
      const ok = await cli('consent', 'grant', 'u', 'marketing', '--policy', policy);
      expect(ok.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed purpose or time with exit code 2', async () => {
    const badPurpose = await cli('consent', 'grant', 'u', 'has space');
    expect(badPurpose.code).toBe(2);
    const both = await cli(
      'consent',
      'grant',
      'u',
      'p',
      '--any-purpose',
      '--expires-in',
      '1d',
      '--expires-at',
      '2030-01-01T00:00:00Z',
    );
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/not both/);
  });
});
