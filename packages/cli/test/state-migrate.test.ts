import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent, StoreQuery } from '@tokenwarden/core/internal';
import { RedisStore } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { runCaptured } from './support';

/**
 * `tokenwarden state migrate-keys`: the state a `'single'` RedisStore wrote is in force, as it
 * was, for a `'sharded'` store on the same prefix; a second run changes nothing; `--delete-old`
 * removes the old keys only. On the shared test Redis, under a prefix of its own.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-migrate:${randomBytes(6).toString('hex')}:`;
const HOUR = 3_600_000;
let redis: Redis;
let dir: string;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-migrate-'));
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

/** Every key of the prefix with its fields and TTL: what a run may have changed. */
async function contents(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of await keysOf(PREFIX)) {
    if ((await redis.type(key)) !== 'hash') continue;
    out[key] = { fields: await redis.hgetall(key), expiresAt: await redis.pexpiretime(key) };
  }
  return out;
}

function cli(...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, '--json', ...args], {});
}

const now = Date.now();
// Ids of every shape the key encoding escapes, in many buckets.
const subjects = [
  'user-1',
  'user 2/ü',
  'user:3{x}',
  ...Array.from({ length: 20 }, (_, i) => `s${i}`),
];
const queries: StoreQuery[] = [
  ...subjects.map((subject, i) => ({
    tokenId: `jti-${i}`,
    subject,
    client: i % 2 === 0 ? 'app-gone' : 'app-ok',
    consent: { subject, purpose: 'marketing' },
  })),
  { tokenId: 'jti-€', subject: 'user-1', client: 'app-ok' },
  { tokenId: 'jti-expired', subject: 'user 2/ü' },
  {
    tokenId: 'jti-none',
    subject: 'nobody',
    consent: { subject: 'user:3{x}', purpose: 'research' },
  },
];

describe('state migrate-keys', () => {
  let single: RedisStore;
  let sharded: RedisStore;
  let before: unknown[];
  let audit: string;

  beforeAll(async () => {
    single = new RedisStore({ url: REDIS_URL, prefix: PREFIX, commandTimeoutMs: 2_000 });
    // A first read starts the 'single' layout's epoch, as on a running deployment.
    await single.lookup({ tokenId: 'x', subject: 'x' });
    await single.revokeToken('jti-€', now + HOUR);
    await single.revokeToken('jti-expired', now - HOUR);
    for (let i = 0; i < subjects.length; i += 3) await single.revokeToken(`jti-${i}`, now + HOUR);
    await single.setNotBefore('subject', 'user 2/ü', now - 1_000, now + HOUR);
    await single.setNotBefore('subject', 's7', now - 2_000, now + HOUR);
    await single.setNotBefore('client', 'app-gone', now - 3_000, now + HOUR);
    await single.setNotBefore('all', '', now - 24 * HOUR, now + HOUR);
    await single.grantConsent({
      subject: 'user-1',
      purpose: 'marketing',
      grantedAt: now - 9_000,
      source: 'form',
    });
    await single.grantConsent({
      subject: 'user:3{x}',
      purpose: 'marketing',
      grantedAt: now - 9_000,
      expiresAt: now + HOUR,
    });
    await single.withdrawConsent({
      subject: 'user:3{x}',
      purpose: 'marketing',
      withdrawnAt: now - 5_000,
      source: 'ticket',
    });
    await single.withdrawConsent({
      subject: 's4',
      purpose: 'marketing',
      withdrawnAt: now - 4_000,
      source: 'call',
    });
    await single.grantConsent({
      subject: 'user:3{x}',
      purpose: 'research',
      grantedAt: now - 8_000,
    });
    before = await Promise.all(queries.map((query) => single.lookup(query)));
    sharded = new RedisStore({
      url: REDIS_URL,
      prefix: PREFIX,
      layout: 'sharded',
      epoch: 'require',
      commandTimeoutMs: 2_000,
    });
    audit = join(dir, 'audit.jsonl');
  });

  afterAll(async () => {
    await Promise.all([single.close(), sharded.close()]);
  });

  it('puts every revocation, mark and consent record in force in the sharded layout', async () => {
    // The event goes to the file alone, so the keys below are the state's only.
    const run = await cli(
      'state',
      'migrate-keys',
      '--no-audit-stream',
      '--audit-file',
      audit,
      '--actor',
      'ops',
    );
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.out) as Record<string, unknown>;
    expect(result).toMatchObject({
      tokens: 9,
      subjects: 2,
      clients: 1,
      all: 1,
      consents: 4,
      expired: 0,
      unreadable: 0,
      deleted: 0,
      epochWritten: true,
    });
    // The epoch is the one the 'single' layout was read under, in every bucket.
    expect(await sharded.readEpoch()).toEqual(await single.readEpoch());
    // Every answer is the one the 'single' layout gives (epoch 'require': no new epoch made).
    expect(await Promise.all(queries.map((query) => sharded.lookup(query)))).toEqual(before);
    expect(await sharded.getConsent('s4', 'marketing')).toEqual(
      await single.getConsent('s4', 'marketing'),
    );
    const events = readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEvent);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'state.initialized',
      actor: 'ops',
      detail: { layout: 'sharded', migratedFrom: 'single', tokens: 9, consents: 4 },
    });
  });

  it('changes nothing when run again', async () => {
    const kept = await contents();
    const rerun = join(dir, 'rerun.jsonl');
    const run = await cli('state', 'migrate-keys', '--no-audit-stream', '--audit-file', rerun);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({
      tokens: 0,
      subjects: 0,
      clients: 0,
      all: 0,
      consents: 0,
      unchanged: 17,
      epochWritten: false,
    });
    expect(await contents()).toEqual(kept);
  });

  it('with --delete-old removes the old keys only, and the sharded layout answers as before', async () => {
    const oldBase = `${PREFIX}{tw}:`;
    const run = await cli(
      'state',
      'migrate-keys',
      '--delete-old',
      '--no-audit-stream',
      '--audit-file',
      join(dir, 'delete-old.jsonl'),
    );
    expect(run.code).toBe(0);
    // 17 records and marks, and the 3 consent indexes of the old layout.
    expect(JSON.parse(run.out)).toMatchObject({ tokens: 0, consents: 0, deleted: 20 });
    const left = (await keysOf(PREFIX)).filter((key) => key.startsWith(oldBase));
    // The 'single' layout's epoch stays: a node still reading it keeps its state check.
    expect(left).toEqual([`${oldBase}epoch`]);
    expect(await Promise.all(queries.map((query) => sharded.lookup(query)))).toEqual(before);
  });

  it('refuses a prefix carrying its own hash tag', async () => {
    const run = await runCaptured(
      ['--redis-url', REDIS_URL, '--prefix', 'app:{t}:', 'state', 'migrate-keys'],
      {},
    );
    expect(run.code).toBe(2);
    expect(run.err).toContain('hash tag');
  });
});
