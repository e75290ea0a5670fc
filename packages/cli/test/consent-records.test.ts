import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisStore } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { runCaptured, TEST_POLICY } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-cli-consent:${randomBytes(6).toString('hex')}:`;
const DAY = 86_400_000;
let redis: Redis;
let dir: string;
let auditFile: string;
let policyFile: string;

/** Runs the CLI against the test prefix, its audit events to the test's file. */
function cli(...args: string[]) {
  return runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args], {
    TOKENWARDEN_AUDIT_FILE: auditFile,
  });
}

/** The audit events written so far. */
function events(): { type: string; outcome: string; detail?: Record<string, unknown> }[] {
  return readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { type: string; outcome: string });
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-consent-'));
  auditFile = join(dir, 'audit.jsonl');
  writeFileSync(auditFile, '');
  policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `${TEST_POLICY}retention: { consentAfterWithdrawal: 400d, audit: 365d }\n`,
  );
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

describe('tokenwarden consent: records that prove something', () => {
  it('grant records the notice, the source and the evidence', async () => {
    const granted = await cli(
      '--json',
      'consent',
      'grant',
      'user-1',
      'marketing',
      '--policy',
      policyFile,
      '--notice',
      'privacy-notice@2026-03',
      '--source',
      'privacy-portal',
      '--evidence',
      'form-8841',
    );
    expect(granted.code).toBe(0);
    expect(JSON.parse(granted.out)).toMatchObject({
      subject: 'user-1',
      purpose: 'marketing',
      notice: 'privacy-notice@2026-03',
      source: 'privacy-portal',
      evidence: 'form-8841',
      status: 'active',
    });
    const store = new RedisStore({ url: REDIS_URL, prefix: PREFIX });
    expect(await store.getConsent('user-1', 'marketing')).toMatchObject({
      notice: 'privacy-notice@2026-03',
      evidence: 'form-8841',
    });
    await store.close();
  });

  it("records a notice file as the hash of its text, and 'cli' as the source by default", async () => {
    const notice = join(dir, 'notice.md');
    writeFileSync(notice, '# Privacy notice\nWe send offers.\n');
    const hash = createHash('sha256').update(readFileSync(notice)).digest('hex');
    const granted = await cli(
      '--json',
      'consent',
      'grant',
      'user-2',
      'marketing',
      '--policy',
      policyFile,
      '--notice-file',
      notice,
    );
    expect(granted.code).toBe(0);
    expect(JSON.parse(granted.out)).toMatchObject({ notice: `sha256:${hash}`, source: 'cli' });
  });

  it('refuses a malformed notice, or both notice flags, with exit 2', async () => {
    const bad = await cli('consent', 'grant', 'u', 'marketing', '--any-purpose', '--notice', 'v3');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--notice must be <id>@<version>');
    const both = await cli(
      'consent',
      'grant',
      'u',
      'marketing',
      '--any-purpose',
      '--notice',
      'n@1',
      '--notice-file',
      policyFile,
    );
    expect(both.code).toBe(2);
    expect(both.err).toContain('not both');
  });

  it("withdraw keeps the record for the policy's retention.consentAfterWithdrawal", async () => {
    const before = Date.now();
    const withdrawn = await cli(
      '--json',
      'consent',
      'withdraw',
      'user-1',
      'marketing',
      '--policy',
      policyFile,
    );
    expect(withdrawn.code).toBe(0);
    const keepUntil = Date.parse(JSON.parse(withdrawn.out).keepUntil);
    expect(keepUntil).toBeGreaterThanOrEqual(before + 400 * DAY);
    expect(keepUntil).toBeLessThanOrEqual(Date.now() + 400 * DAY);
  });

  it('list --subject shows every record of one data subject', async () => {
    const listed = await cli('--json', 'consent', 'list', '--subject', 'user-1');
    expect(listed.code).toBe(0);
    const parsed = JSON.parse(listed.out);
    expect(parsed.subject).toBe('user-1');
    expect(parsed.records).toEqual([
      expect.objectContaining({
        purpose: 'marketing',
        status: 'withdrawn',
        notice: 'privacy-notice@2026-03',
      }),
    ]);
    const human = await cli('consent', 'list', '--subject', 'user-1');
    expect(human.out).toMatch(/^PURPOSE\s+STATUS\s+GRANTED/);
    expect(human.out).toMatch(/marketing\s+withdrawn/);
    expect((await cli('consent', 'list', '--subject', 'nobody')).out).toContain(
      'No consent records for nobody.',
    );
    expect((await cli('consent', 'list')).code).toBe(2);
  });

  it('erase --subject deletes the records and writes consent.erased; the history stays', async () => {
    const erased = await cli(
      '--json',
      'consent',
      'erase',
      '--subject',
      'user-1',
      '--reason',
      'request-17',
      '--actor',
      'dpo',
    );
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.out)).toEqual({ subject: 'user-1', erased: ['marketing'] });
    expect(JSON.parse((await cli('--json', 'consent', 'list', '--subject', 'user-1')).out)).toEqual(
      {
        subject: 'user-1',
        records: [],
      },
    );
    expect((await cli('--json', 'consent', 'list', '--subject', 'user-2')).out).toContain(
      'marketing',
    );
    const types = events().map((e) => `${e.type}:${e.outcome}`);
    expect(types).toEqual(
      expect.arrayContaining(['consent.granted:success', 'consent.withdrawn:success']),
    );
    expect(events().at(-1)).toMatchObject({
      type: 'consent.erased',
      outcome: 'success',
      actor: 'dpo',
      detail: { reason: 'request-17' },
    });
  });
});
