import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createAdmin,
  JsonLinesSink,
  masterKey,
  RecordCipher,
  type MasterKey,
} from '@tokenwarden/core/internal';
import { RedisStore } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { RUN_CHAIN_KEY, runCaptured } from './support';

/**
 * `state migrate-keys` and `state restore` keep the consent records sealed when the nodes seal
 * them (RedisStore `recordCipher`): given the master key they read sealed records and write every
 * record sealed; without it they say what to pass instead of copying nothing or clear text.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const RUN = `tw-cli-sealed:${randomBytes(6).toString('hex')}:`;
let redis: Redis;
let dir: string;
let keyFile: string;
let master: MasterKey;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-sealed-'));
  const text = randomBytes(32).toString('base64url');
  keyFile = join(dir, 'master.key');
  writeFileSync(keyFile, text);
  master = masterKey(text);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

/** Every value stored under `prefix`, as text (hash fields and the DUMP of each key). */
async function everything(prefix: string, match = ''): Promise<string> {
  const out: string[] = [];
  for (const key of await redis.keys(`${prefix}${match}*`)) {
    if ((await redis.type(key)) === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    const dump = await redis.dumpBuffer(key);
    if (dump !== null) out.push(dump.toString('latin1'));
  }
  return out.join('\n');
}

function storeOf(prefix: string, layout: 'single' | 'sharded', cipher?: RecordCipher) {
  const store = new RedisStore({
    url: REDIS_URL,
    prefix,
    layout,
    logger: false,
    commandTimeoutMs: 2_000,
    ...(cipher === undefined ? {} : { recordCipher: cipher }),
  });
  closers.push(() => store.close());
  return store;
}

function cli(prefix: string, ...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', prefix, ...args], RUN_CHAIN_KEY);
}

describe('state migrate-keys with sealed consent records', () => {
  const prefix = `${RUN}migrate:`;

  it('refuses without the master key, then copies every record sealed with it', async () => {
    const sealed = storeOf(prefix, 'single', new RecordCipher(master));
    await sealed.lookup({ tokenId: 'x', subject: 'x' });
    await sealed.grantConsent({
      subject: 'lee@example.com',
      purpose: 'newsletter',
      grantedAt: Date.now() - 5_000,
      source: 'portal',
      evidence: 'form-sealed-1',
    });
    await sealed.withdrawConsent({
      subject: 'lee@example.com',
      purpose: 'newsletter',
      withdrawnAt: Date.now() - 1_000,
      source: 'ticket-sealed-2',
    });
    // Written before the nodes had the cipher: in clear in the 'single' layout.
    await storeOf(prefix, 'single').grantConsent({
      subject: 'max@example.com',
      purpose: 'newsletter',
      grantedAt: Date.now() - 5_000,
      evidence: 'form-clear-3',
    });

    const refused = await cli(prefix, 'state', 'migrate-keys', '--no-audit');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/sealed with the master key: pass --master-key-file/);
    // Refused before anything is written: no record in clear, not even the epoch.
    expect(await redis.keys(`${prefix}{tw.*`)).toEqual([]);

    const run = await cli(
      prefix,
      'state',
      'migrate-keys',
      '--no-audit',
      '--master-key-file',
      keyFile,
    );
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/consent records\s+2\n/);
    const copied = await everything(prefix, '{tw.');
    expect(copied).toContain(`rc1.${master.id}.`);
    for (const clear of ['form-sealed-1', 'ticket-sealed-2', 'form-clear-3', 'portal']) {
      expect(copied).not.toContain(clear);
    }
    const sharded = storeOf(prefix, 'sharded', new RecordCipher(master));
    expect(await sharded.getConsent('lee@example.com', 'newsletter')).toMatchObject({
      source: 'ticket-sealed-2',
      evidence: 'form-sealed-1',
      withdrawnAt: expect.any(Number),
    });
    expect(await sharded.getConsent('max@example.com', 'newsletter')).toMatchObject({
      evidence: 'form-clear-3',
    });
  });
});

describe('state restore with sealed consent records', () => {
  const prefix = `${RUN}restore:`;

  it('writes the consent records back sealed with the master key', async () => {
    const trail = join(dir, 'trail.jsonl');
    const node = storeOf(prefix, 'single', new RecordCipher(master));
    const admin = createAdmin({
      store: node,
      purposes: ['newsletter'],
      audit: { sinks: [new JsonLinesSink({ file: trail })] },
      logger: { warn() {}, error() {} },
    });
    await admin.grantConsent({
      subject: 'lee@example.com',
      purpose: 'newsletter',
      source: 'portal-restore',
      evidence: 'form-restore-1',
    });
    await admin.close();
    const keys = await redis.keys(`${prefix}*`);
    await redis.unlink(...keys);

    const run = await cli(
      prefix,
      'state',
      'restore',
      '--from',
      trail,
      '--audit-file',
      join(dir, 'restore-audit.jsonl'),
      '--master-key-file',
      keyFile,
    );
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/consent records\s+1\n/);
    const stored = await everything(prefix);
    expect(stored).toContain(`rc1.${master.id}.`);
    expect(stored).not.toContain('form-restore-1');
    const reader = storeOf(prefix, 'single', new RecordCipher(master));
    expect(await reader.getConsent('lee@example.com', 'newsletter')).toMatchObject({
      source: 'portal-restore',
      evidence: 'form-restore-1',
    });
  });
});
