import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { ApiKeys, RefreshTokens, createAdmin, verifyApiKey } from '@tokenwarden/core/internal';
import { RedisCredentialStore, RedisStore, auditKeys } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { runCaptured } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-test:${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
let redis: Redis;
let store: RedisStore;
let credentials: RedisCredentialStore;
let dir: string;

/** Runs the CLI against the test prefix; resolves the exit code and both outputs. */
function cli(...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], {});
}

const lookup = (tokenId: string, subject = 's', client?: string) =>
  store.lookup({ tokenId, subject, ...(client === undefined ? {} : { client }) });

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  store = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
  credentials = new RedisCredentialStore({
    url: REDIS_URL,
    prefix: PREFIX,
    commandTimeoutMs: 2_000,
  });
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-revoke-'));
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await Promise.all([store.close(), credentials.close()]);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('tokenwarden revoke', () => {
  it('token: the id is refused by every node reading the store, and the change is audited', async () => {
    const audit = join(dir, 'token.jsonl');
    expect((await lookup('jti-1')).tokenRevoked).toBe(false);
    const run = await cli(
      'revoke',
      'token',
      'jti-1',
      '--reason',
      'leaked',
      '--actor',
      'dpo@example.com',
      '--audit-file',
      audit,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain('Token jti-1 revoked.');
    expect((await lookup('jti-1')).tokenRevoked).toBe(true);
    expect(JSON.parse(readFileSync(audit, 'utf8').trim())).toMatchObject({
      type: 'token.revoked',
      tokenId: 'jti-1',
      actor: 'dpo@example.com',
      detail: { reason: 'leaked' },
    });
  });

  it('token: an API key id also revokes the key itself, and a family id the family', async () => {
    const admin = createAdmin({ store, audit: false });
    const { key, record } = await new ApiKeys({ store: credentials }).create({
      client: 'c',
      scopes: [],
    });
    const refresh = new RefreshTokens({ store: credentials, revoker: admin });
    const family = await refresh.issue(
      { subject: 's', client: 'web', scopes: [] },
      { tokenId: 'jti-family', expiresAt: Date.now() + 10 * MINUTE },
    );

    const byKey = await cli('--json', 'revoke', 'token', record.keyId);
    expect(JSON.parse(byKey.out)).toEqual({
      revoked: 'token',
      tokenId: record.keyId,
      also: ['API key'],
    });
    const refused = await verifyApiKey(key, { store: credentials }, Date.now());
    expect(!refused.ok && refused.failure.code).toBe('token_revoked');

    const byFamily = await cli('revoke', 'token', family.familyId);
    expect(byFamily.out).toContain('refresh-token family');
    expect((await lookup('jti-family')).tokenRevoked).toBe(true);
    expect(await refresh.rotate(family.refreshToken)).toMatchObject({ reason: 'revoked' });
    await admin.close();
  });

  it('subject and client: tokens issued at or before the mark are refused', async () => {
    const before = Date.now();
    expect((await cli('revoke', 'subject', 'user-7')).code).toBe(0);
    expect((await lookup('x', 'user-7')).notBefore.subject).toBeGreaterThanOrEqual(before);

    const at = '2030-01-31T12:00:00.000Z';
    const run = await cli('--json', 'revoke', 'client', 'billing', '--before', at);
    expect(JSON.parse(run.out)).toEqual({
      revoked: 'client',
      id: 'billing',
      before: at,
    });
    expect((await lookup('x', 's', 'billing')).notBefore.client).toBe(Date.parse(at));
  });

  it('with --audit-stream, the change joins the audit stream the API nodes write', async () => {
    const run = await cli('revoke', 'subject', 'user-9', '--audit-stream', '--actor', 'dpo');
    expect(run).toMatchObject({ code: 0, err: '' });
    const entries = await redis.xrange(auditKeys(PREFIX).stream, '-', '+');
    // An entry holds one event per line (field `lines`).
    const events = entries.flatMap(([, fields]) =>
      fields[1]!.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'subject.revoked', subject: 'user-9', actor: 'dpo' }),
    );
  });

  it('exits non-zero when the change was made but its audit event could not be written', async () => {
    const run = await cli(
      'revoke',
      'subject',
      'user-10',
      '--audit-file',
      join(dir, 'missing-dir', 'audit.jsonl'),
    );
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/the change was made, but its audit event could not be written/);
    expect((await lookup('x', 'user-10')).notBefore.subject).toBeDefined();
  });

  it('all: refused without --yes, nothing written; done with it', async () => {
    const refused = await cli('revoke', 'all');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--yes/);
    expect((await lookup('x')).notBefore.all).toBeUndefined();

    const done = await cli('revoke', 'all', '--yes', '--reason', 'incident-42');
    expect(done.code).toBe(0);
    expect((await lookup('x')).notBefore.all).toBeGreaterThan(0);
  });

  it('refuses a malformed time or a missing Redis with exit code 2', async () => {
    const badTime = await cli('revoke', 'subject', 'u', '--before', 'yesterday');
    expect(badTime.code).toBe(2);
    expect(badTime.err).toMatch(/--before must be an ISO 8601 time/);

    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await runCli(['revoke', 'token', 'x'], {
      stdout: new PassThrough(),
      stderr,
      env: {},
    });
    expect(code).toBe(2);
    expect(err).toMatch(/REDIS_URL/);
  });
});
