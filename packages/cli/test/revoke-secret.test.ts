/**
 * `tokenwarden revoke --secret -`: the real binary reads a leaked API key, refresh token or JWT
 * from standard input, finds it (by hash, or by its jti), revokes it with an audit event, and
 * never writes the secret anywhere.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import {
  ApiKeys,
  RefreshTokens,
  createAdmin,
  createWarden,
  verifyApiKey,
} from '@tokenwarden/core/internal';
import { RedisCredentialStore, RedisStore } from '@tokenwarden/redis';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { bearer } from '../../core/test/support';
import { finished } from './support';

const ROOT = resolve(__dirname, '../../..');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-secret:${randomBytes(6).toString('hex')}:`;
const quiet = { warn() {}, error() {} };
let redis: Redis;
let store: RedisStore;
let credentials: RedisCredentialStore;
let dir: string;

/** Runs `bin.ts` (the `tokenwarden` binary) with `input` on standard input. */
function tokenwarden(
  args: readonly string[],
  input: string,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'tsx'),
    [join(ROOT, 'packages/cli/src/bin.ts'), '--redis-url', REDIS_URL, '--prefix', PREFIX, ...args],
    { cwd: ROOT, env: { ...process.env, TOKENWARDEN_AUDIT_FILE: '' }, stdio: 'pipe' },
  );
  return finished(child, input);
}

/** Runs the CLI in this process with `input` as its standard input. */
async function inProcess(args: readonly string[], input: string) {
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await runCli(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], {
    stdout,
    stderr,
    stdin,
    env: {},
  });
  return { code, out, err };
}

function auditEvents(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  store = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
  credentials = new RedisCredentialStore({
    url: REDIS_URL,
    prefix: PREFIX,
    commandTimeoutMs: 2_000,
  });
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-secret-'));
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

describe('tokenwarden revoke --secret -', () => {
  it('an API key: found by its hash, revoked and refused, never echoed', async () => {
    const { key, record } = await new ApiKeys({ store: credentials }).create({
      client: 'billing-export',
      scopes: ['orders:read'],
    });
    expect((await verifyApiKey(key, { store: credentials }, Date.now())).ok).toBe(true);
    const audit = join(dir, 'api-key.jsonl');

    const run = await tokenwarden(
      ['revoke', '--secret', '-', '--actor', 'dpo@example.com', '--audit-file', audit],
      `${key}\n`,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toBe(`API key ${record.keyId} of client billing-export revoked.\n`);
    const refused = await verifyApiKey(key, { store: credentials }, Date.now());
    expect(!refused.ok && refused.failure.code).toBe('token_revoked');
    const events = auditEvents(audit);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'apikey.revoked',
        outcome: 'success',
        tokenId: record.keyId,
        client: 'billing-export',
        actor: 'dpo@example.com',
        detail: { reason: 'leaked' },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'token.revoked', tokenId: record.keyId }),
    );
    const body = key.split('_')[2]!;
    for (const text of [run.out, run.err, readFileSync(audit, 'utf8')]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(body);
    }
  }, 90_000);

  it('a refresh token: its family and the access tokens issued from it are revoked', async () => {
    const admin = createAdmin({ store, audit: false });
    const refresh = new RefreshTokens({ store: credentials, revoker: admin });
    const jti = `jti-${randomBytes(4).toString('hex')}`;
    const issued = await refresh.issue(
      { subject: 'user-5', client: 'web', scopes: ['customers:read'] },
      { tokenId: jti, expiresAt: Date.now() + 10 * 60_000 },
    );
    const audit = join(dir, 'refresh.jsonl');

    const run = await tokenwarden(
      ['--json', 'revoke', '--secret', '-', '--reason', 'found in a log', '--audit-file', audit],
      issued.refreshToken,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(run.out)).toEqual({
      revoked: 'refresh_family',
      familyId: issued.familyId,
      client: 'web',
      subject: 'user-5',
    });
    expect(await refresh.rotate(issued.refreshToken)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
    expect((await store.lookup({ tokenId: jti, subject: 'user-5' })).tokenRevoked).toBe(true);
    expect(auditEvents(audit)).toContainEqual(
      expect.objectContaining({
        type: 'token.revoked',
        detail: { tokenType: 'refresh', familyId: issued.familyId, reason: 'found in a log' },
      }),
    );
    for (const text of [run.out, run.err, readFileSync(audit, 'utf8')]) {
      expect(text).not.toContain(issued.refreshToken);
    }
    await admin.close();
  }, 90_000);

  it('a JWT (with its Bearer prefix): its jti is revoked until it expires, and a warden refuses it', async () => {
    const jti = `jti-${randomBytes(4).toString('hex')}`;
    const token = mintToken({ claims: { jti, sub: 'agent-7' }, now: Date.now() - 2_000 });
    const before = createWarden({ jwt: testJwtOptions(), store, logger: quiet, metrics: false });
    expect((await before.check(bearer(token))).outcome).toBe('allow');
    await before.close();
    const audit = join(dir, 'jwt.jsonl');

    const run = await tokenwarden(
      ['revoke', '--secret', '-', '--audit-file', audit],
      `Bearer ${token}\r\n`,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toBe(
      `JWT ${jti} of subject agent-7 (client web-app) revoked; its signature was not checked.\n`,
    );
    const after = createWarden({ jwt: testJwtOptions(), store, logger: quiet, metrics: false });
    const denied = await after.check(bearer(token));
    expect(denied.outcome === 'deny' && denied.code).toBe('token_revoked');
    await after.close();
    const [event] = auditEvents(audit);
    expect(event).toMatchObject({ type: 'token.revoked', tokenId: jti });
    // Kept until the token's own expiry (mintToken: 300 s after issue).
    const exp = (
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        exp: number;
      }
    ).exp;
    expect((event!['detail'] as { expiresAt: number }).expiresAt).toBe(exp * 1000);
    const signature = token.split('.')[2]!;
    for (const text of [run.out, run.err, readFileSync(audit, 'utf8')]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(signature);
    }
  }, 90_000);

  it('refuses a secret on the command line without echoing it, and revokes nothing', async () => {
    const { key, record } = await new ApiKeys({ store: credentials }).create({
      client: 'c',
      scopes: ['orders:read'],
    });
    const run = await inProcess(['revoke', '--secret', key], '');
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--secret takes only '-'/);
    expect(run.err + run.out).not.toContain(key);
    expect((await verifyApiKey(key, { store: credentials }, Date.now())).ok).toBe(true);
    await new ApiKeys({ store: credentials }).revoke(record.keyId);
  });

  it('refuses empty, unknown, damaged and foreign secrets, naming none of them', async () => {
    const { key } = await new ApiKeys({ store: credentials }).create({
      client: 'c',
      scopes: ['orders:read'],
    });
    const forged = `twk_live_${'A'.repeat(32)}abcdef`;
    const damaged = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const noJti = mintToken({ claims: { jti: undefined } });
    const cases: [string, number, RegExp][] = [
      ['', 2, /no secret on standard input/],
      ['correct horse battery staple', 2, /more than one word/],
      ['hunter2-password', 2, /neither a Tokenwarden API key/],
      [damaged, 2, /checksum does not match/],
      [noJti, 2, /has no jti/],
      ['eyJub3Q.eyJub3Q.x', 2, /payload is not JSON/],
      [forged, 2, /checksum does not match/],
      ['twk_live_short', 2, /not well formed/],
    ];
    for (const [secret, code, message] of cases) {
      const run = await inProcess(['revoke', '--secret', '-'], secret);
      expect([secret, run.code, run.err]).toEqual([secret, code, expect.stringMatching(message)]);
      if (secret !== '') expect(run.err + run.out).not.toContain(secret);
    }
    // A well-formed key the store does not know.
    const { generateCredential } = await import('@tokenwarden/core/internal');
    const stranger = generateCredential('twk', 'live');
    const missing = await inProcess(['revoke', '--secret', '-'], stranger);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no API key with this hash in the store/);
    expect(missing.err).not.toContain(stranger);
    expect((await verifyApiKey(key, { store: credentials }, Date.now())).ok).toBe(true);
  });

  it('keeps the other revoke commands as they were', async () => {
    const run = await inProcess(['revoke', 'token', 'jti-plain'], '');
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toBe('Token jti-plain revoked.\n');
    const none = await inProcess(['revoke'], '');
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/name what to revoke/);
  });
});
