import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { auditKeys, RedisStore } from '@tokenwarden/redis';
import { deleteKeys } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { runCaptured } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const PREFIX = `tw-cli-dest-${randomBytes(6).toString('hex')}:`;
const REFUSED = /every change must leave an audit event/;
let redis: Redis;
let store: RedisStore;
let dir: string;

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], env);

/** The events in the Redis audit stream of the test prefix, as `audit export` gives them. */
async function streamEvents(): Promise<Record<string, unknown>[]> {
  if ((await redis.exists(auditKeys(PREFIX).stream)) === 0) return [];
  const run = await cli(['audit', 'export']);
  expect(run.code).toBe(0);
  return run.out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const revoked = async (tokenId: string) =>
  (await store.lookup({ tokenId, subject: 's' })).tokenRevoked;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  store = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-dest-'));
});
afterAll(async () => {
  await deleteKeys(PORT, PREFIX);
  await store.close();
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('every change the CLI makes is audited', () => {
  it('to the Redis audit stream by default, when the command uses Redis', async () => {
    const run = await cli(['revoke', 'token', 'jti-stream', '--actor', 'ops']);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(await revoked('jti-stream')).toBe(true);
    expect(await streamEvents()).toContainEqual(
      expect.objectContaining({ type: 'token.revoked', tokenId: 'jti-stream', actor: 'ops' }),
    );
  });

  it('to --audit-file alone with --no-audit-stream', async () => {
    const file = join(dir, 'file-only.jsonl');
    const run = await cli([
      'revoke',
      'token',
      'jti-file',
      '--no-audit-stream',
      '--audit-file',
      file,
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8').trim())).toMatchObject({
      type: 'token.revoked',
      tokenId: 'jti-file',
    });
    const inStream = (await streamEvents()).filter((e) => e.tokenId === 'jti-file');
    expect(inStream).toEqual([]);
  });

  it('refuses a change with no audit destination (exit 2), before making it', async () => {
    const run = await cli(['revoke', 'token', 'jti-nowhere', '--no-audit-stream']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(REFUSED);
    expect(run.err).toContain('--audit-file');
    expect(run.err).toContain('--no-audit');
    expect(await revoked('jti-nowhere')).toBe(false);

    const byEnv = await cli(['revoke', 'token', 'jti-nowhere'], {
      TOKENWARDEN_AUDIT_STREAM: '0',
    });
    expect(byEnv.code).toBe(2);
    expect(byEnv.err).toMatch(REFUSED);
    expect(await revoked('jti-nowhere')).toBe(false);

    const apikey = await cli([
      'apikey',
      'create',
      '--client',
      'svc',
      '--scope',
      'a:read',
      '--no-audit-stream',
    ]);
    expect(apikey.code).toBe(2);
    expect(apikey.err).toMatch(REFUSED);

    const keys = await cli(['keys', 'rotate', '--no-audit-stream']);
    expect(keys.code).toBe(2);
    expect(keys.err).toMatch(REFUSED);

    const state = await cli(['state', 'init', '--no-audit-stream']);
    expect(state.code).toBe(2);
    expect(state.err).toMatch(REFUSED);
  });

  it('--no-audit makes the change without an event, and says so on stderr', async () => {
    const before = (await streamEvents()).length;
    const run = await cli(['revoke', 'token', 'jti-unaudited', '--no-audit']);
    expect(run.code).toBe(0);
    expect(run.err).toContain('--no-audit: this change leaves no audit event');
    expect(await revoked('jti-unaudited')).toBe(true);
    expect(await streamEvents()).toHaveLength(before);

    const file = join(dir, 'contradiction.jsonl');
    const both = await cli(['revoke', 'token', 'jti-both', '--no-audit', '--audit-file', file]);
    expect(both.code).toBe(2);
    expect(both.err).toContain('--no-audit contradicts --audit-file');
    expect(existsSync(file)).toBe(false);
    expect(await revoked('jti-both')).toBe(false);
  });

  it('a command that only reads needs no destination', async () => {
    const run = await cli(['state', 'status'], { TOKENWARDEN_AUDIT_STREAM: '0' });
    expect(run.err).not.toMatch(REFUSED);
    expect([0, 1]).toContain(run.code);
  });
});
