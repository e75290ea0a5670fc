/**
 * A chain key generated once and kept in Redis sealed by the master key: the warden loads it,
 * `tokenwarden audit verify` opens it with the master key alone, and Redis never holds it in clear.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { createWarden, loadChainKey, masterKey } from '@tokenwarden/core';
import { chainKeyKey, RedisChainKeyStore, RedisStreamSink } from '@tokenwarden/redis';
import { deleteKeys, testJwtOptions } from '@tokenwarden/testing';
import { Redis } from 'ioredis';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-chain-key-${randomBytes(6).toString('hex')}-`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await deleteKeys(PORT, BASE);
  await redis.quit();
});

async function cli(prefix: string, env: Record<string, string>, ...args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(['--redis-url', REDIS_URL, '--prefix', prefix, ...args], {
    stdout,
    stderr,
    env,
  });
  return { code, out, err };
}

describe('a generated chain key kept in Redis, sealed by the master key', () => {
  it('keys the chain, and audit verify opens it with the master key alone', async () => {
    const prefix = `${BASE}1:`;
    const mkText = randomBytes(32).toString('base64url');
    const mk = masterKey(mkText);
    const store = new RedisChainKeyStore({ url: REDIS_URL, prefix });
    const chainKey = await loadChainKey({ store, masterKey: mk });
    await store.close();
    const stored = (await redis.getBuffer(chainKeyKey(prefix)))!;
    expect(stored.includes(chainKey)).toBe(false);
    expect(stored.toString('utf8')).toContain(`"mk":"${mk.id}"`);

    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: {
        sinks: [new RedisStreamSink({ url: REDIS_URL, prefix })],
        chainKey,
        fingerprintKey: randomBytes(32),
        producer: 'api-a',
      },
    });
    warden.recordEvent({ type: 'signing_key.rotated', outcome: 'success', actor: 'ops' });
    warden.recordEvent({ type: 'apikey.created', outcome: 'success', actor: 'ops' });
    await warden.close();

    const run = await cli(prefix, { TOKENWARDEN_MASTER_KEY: mkText }, 'audit', 'verify');
    expect(run.err).toBe('');
    expect(run.out).toMatch(/^intact {2}api-a\.\S+ {2}events 1\.\.2 \(2\) {2}keyed$/m);
    expect(run.code).toBe(0);

    const wrong = await cli(
      prefix,
      { TOKENWARDEN_MASTER_KEY: randomBytes(32).toString('base64url') },
      'audit',
      'verify',
    );
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(
      /the audit chain key in Redis key .*audit:chain-key does not open: stored secret was sealed with master key mk-/,
    );
    // Nothing stored under another prefix: verify asks for the key.
    const none = await cli(`${BASE}2:`, { TOKENWARDEN_MASTER_KEY: mkText }, 'audit', 'verify');
    expect(none.code).toBe(2);
    expect(none.err).toContain('audit verify needs the chain key');
  });
});
