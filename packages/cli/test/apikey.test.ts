import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
import { verifyApiKey } from '@tokenwarden/core/internal';
import { auditKeys, RedisCredentialStore, RedisStore } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { runCaptured, TEST_POLICY } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-test:${randomBytes(6).toString('hex')}:`;
let redis: Redis;
let dir: string;

const POLICY = TEST_POLICY;

/** Runs the CLI against the test prefix; resolves the exit code and both outputs. */
function cli(...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], {
    USER: 'test-operator',
  });
}

async function json<T>(...args: string[]): Promise<T> {
  const run = await cli('--json', ...args);
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.err}`);
  return JSON.parse(run.out) as T;
}

/** Every key name and value under the test prefix, as one string. */
async function everythingStored(): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'hash') parts.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'zset') parts.push(...(await redis.zrange(key, '0', '-1')));
      else if (type === 'string') parts.push((await redis.get(key)) ?? '');
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-apikey-'));
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

interface Shown {
  key: string;
  keyId: string;
  client: string;
  scopes: string[];
  expiresAt: string;
  status: string;
  previous?: { keyId: string; expiresAt: string; status: string };
}

describe('tokenwarden apikey', () => {
  it('create prints the key once, on stdout only; Redis and the audit file never hold it', async () => {
    const audit = join(dir, 'create.jsonl');
    const run = await cli(
      'apikey',
      'create',
      '--client',
      'billing',
      '--scope',
      'orders:read',
      '--scope',
      'invoices:read',
      '--name',
      'nightly export',
      '--expires-in',
      '30d',
      '--audit-file',
      audit,
    );
    expect(run.code).toBe(0);
    const keys = run.out.match(/twk_live_[0-9A-Za-z]{38}/g) ?? [];
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(run.out).toMatch(/shown once/);
    expect(run.out).toMatch(/scopes\s+orders:read invoices:read/);
    expect(run.err).toBe('');

    const stored = await everythingStored();
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(9));

    const events = readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events).toEqual([
      expect.objectContaining({
        type: 'apikey.created',
        outcome: 'success',
        client: 'billing',
        actor: 'test-operator',
      }),
    ]);
    expect(readFileSync(audit, 'utf8')).not.toContain(key.slice(9));

    const store = new RedisCredentialStore({
      url: REDIS_URL,
      prefix: PREFIX,
      commandTimeoutMs: 2_000,
    });
    const verified = await verifyApiKey(key, { store }, Date.now());
    expect(verified.ok && verified.token.scopes).toEqual(['orders:read', 'invoices:read']);
    await store.close();
  });

  it('rotates with an overlap, lists without hashes, and revokes at once', async () => {
    const store = new RedisCredentialStore({
      url: REDIS_URL,
      prefix: PREFIX,
      commandTimeoutMs: 2_000,
    });
    const created = await json<Shown>('apikey', 'create', '--client', 'rotating', '--scope', 'a');
    expect(created.status).toBe('active');
    expect(created).not.toHaveProperty('hash');

    const rotated = await json<Shown>('apikey', 'rotate', created.keyId, '--overlap', '1h');
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.previous).toMatchObject({ keyId: created.keyId, status: 'rotated' });
    expect(Date.parse(rotated.previous!.expiresAt)).toBeLessThanOrEqual(Date.now() + 3_600_000);
    for (const key of [created.key, rotated.key]) {
      expect((await verifyApiKey(key, { store }, Date.now())).ok).toBe(true);
    }

    const listed = await json<Shown[]>('apikey', 'list', '--client', 'rotating');
    expect(listed.map((k) => [k.keyId, k.status])).toEqual([
      [created.keyId, 'rotated'],
      [rotated.keyId, 'active'],
    ]);
    expect(JSON.stringify(listed)).not.toMatch(/"hash"|twk_live_/);

    const human = await cli('apikey', 'list', '--client', 'rotating');
    expect(human.out).toMatch(/^ID\s+CLIENT\s+NAME\s+SCOPES\s+STATUS/);
    await cli('apikey', 'create', '--client', 'soon', '--scope', 'a', '--expires-in', '2d');
    const soon = await cli('apikey', 'list', '--client', 'soon');
    expect(soon.out).toMatch(/^1 active key\(s\) expire within 7 days/);
    expect(human.out).toContain(rotated.keyId);

    const revoked = await cli('apikey', 'revoke', rotated.keyId, '--reason', 'leaked');
    expect(revoked.code).toBe(0);
    expect(revoked.out).toContain(`API key ${rotated.keyId} revoked.`);
    const refused = await verifyApiKey(rotated.key, { store }, Date.now());
    expect(!refused.ok && refused.failure.code).toBe('token_revoked');
    // The key id is on the revocation list too, for nodes that cache verified credentials.
    const marks = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
    expect((await marks.lookup({ tokenId: rotated.keyId, subject: 'rotating' })).tokenRevoked).toBe(
      true,
    );
    await marks.close();
    await store.close();
  });

  it('refuses what it cannot do, with a message and a non-zero exit', async () => {
    const tooLong = await cli(
      'apikey',
      'create',
      '--client',
      'c',
      '--scope',
      'a',
      '--expires-in',
      '400d',
    );
    expect(tooLong.code).toBe(2);
    expect(tooLong.err).toMatch(/at most 90 d/);

    const badDuration = await cli(
      'apikey',
      'create',
      '--client',
      'c',
      '--scope',
      'a',
      '--expires-in',
      'soon',
    );
    expect(badDuration.code).toBe(2);
    expect(badDuration.err).toMatch(/--expires-in must be a duration/);

    const unknown = await cli('apikey', 'rotate', 'ak_doesnotexist');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no API key with id 'ak_doesnotexist'/);

    const noClient = await cli('apikey', 'create');
    expect(noClient.code).not.toBe(0);
    expect(noClient.err).toMatch(/--client/);

    const badEnv = await cli('apikey', 'create', '--client', 'c', '--env', 'PROD');
    expect(badEnv.code).toBe(2);
  });

  it('applies the policy: its clients, their scopes and API-key maximum age', async () => {
    const policy = join(dir, 'tokenwarden.policy.yaml');
    writeFileSync(policy, POLICY);
    const create = (...args: string[]) => cli('apikey', 'create', '--policy', policy, ...args);

    const outside = await create('--client', 'batch', '--scope', 'customers:read');
    expect(outside.code).toBe(2);
    expect(outside.err).toMatch(/may not hold scope 'customers:read'/);

    const unknown = await create('--client', 'nobody', '--scope', 'orders:read');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/'nobody' is not in the policy/);

    const tooLong = await create(
      '--client',
      'support-console',
      '--scope',
      'orders:read',
      '--expires-in',
      '60d',
    );
    expect(tooLong.code).toBe(2);
    expect(tooLong.err).toMatch(/at most 30 d/);

    const ok = await create('--client', 'support-console', '--scope', 'orders:read', '--json');
    expect(ok.code).toBe(0);
    const shown = JSON.parse(ok.out) as Shown;
    expect(Date.parse(shown.expiresAt) - Date.now()).toBeLessThanOrEqual(30 * 86_400_000);

    const broken = join(dir, 'broken.policy.yaml');
    writeFileSync(broken, 'version: 1\nclients: 7\n');
    const refused = await cli(
      'apikey',
      'create',
      '--client',
      'c',
      '--scope',
      'a',
      '--policy',
      broken,
    );
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/policy check/);
  });

  it('reports an unreachable Redis without echoing the URL or its password', async () => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await runCli(['--redis-url', 'redis://:hunter2@127.0.0.1:1', 'apikey', 'list'], {
      stdout,
      stderr,
      env: {},
    });
    expect(code).not.toBe(0);
    expect(err).toMatch(/Redis/);
    expect(err).not.toContain('hunter2');
  });

  it("with $TOKENWARDEN_AUDIT_STREAM, create and revoke join the nodes' audit stream, without the key", async () => {
    const env = { USER: 'test-operator', TOKENWARDEN_AUDIT_STREAM: 'true' };
    const run = (...args: string[]) =>
      runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, '--json', ...args], env);
    const created = await run('apikey', 'create', '--client', 'batch', '--scope', 'orders:read');
    expect(created.code).toBe(0);
    const { key, keyId } = JSON.parse(created.out) as { key: string; keyId: string };
    expect((await run('apikey', 'revoke', keyId, '--reason', 'leaked')).code).toBe(0);
    const entries = await redis.xrange(auditKeys(PREFIX).stream, '-', '+');
    // An entry holds one event per line (field `lines`).
    const events = entries.flatMap(([, fields]) =>
      fields[1]!.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'apikey.created', tokenId: keyId, actor: 'test-operator' }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'apikey.revoked', tokenId: keyId }),
    );
    expect(JSON.stringify(entries)).not.toContain(key);
  });
});
