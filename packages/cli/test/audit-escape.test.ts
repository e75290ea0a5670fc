import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createAdmin, MemoryStore } from '@tokenwarden/core';
import { auditKeys, RedisStreamSink } from '@tokenwarden/redis';
import { deleteKeys } from '@tokenwarden/testing';
import { Redis } from 'ioredis';
import { runCaptured } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const PREFIX = `tw-cli-escape-${randomBytes(6).toString('hex')}:`;
/** A subject with a C1 control (NEL), a line separator, a bidi override and DEL. */
const SUBJECT = 'ann\u0085x\u2028y\u202ez\u007f';
const ESCAPED = 'ann\\u{85}x\\u{2028}y\\u{202e}z\\u{7f}';
/** Characters that must never reach a stored or printed line raw. */
const RAW = /[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u007f]/;

const cli = (...args: string[]) =>
  runCaptured(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args]);

let redis: Redis;

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  const admin = createAdmin({
    store: new MemoryStore(),
    audit: { sinks: [new RedisStreamSink({ url: REDIS_URL, prefix: PREFIX })] },
  });
  admin.recordEvent({
    type: 'consent.granted',
    outcome: 'success',
    subject: SUBJECT,
    userAgent: 'curl\u2029/8',
    detail: { note: 'a\u0090b' },
  });
  await admin.close();
});
afterAll(async () => {
  await deleteKeys(PORT, PREFIX);
  await redis.quit();
});

describe('control, separator and bidi characters in the audit trail', () => {
  it('are JSON-escaped in the stored stream entry, which still parses to the same subject', async () => {
    const entries = await redis.xrange(auditKeys(PREFIX).stream, '-', '+');
    expect(entries).toHaveLength(1);
    const stored = entries[0]![1].join(' ');
    expect(stored).not.toMatch(RAW);
    expect(stored).toContain('ann\\u0085x\\u2028y\\u202ez\\u007f');
  });

  it('are escaped in `audit tail`, as text and as JSON', async () => {
    const text = await cli('audit', 'tail', '--from-start', '--limit', '1');
    expect(text.code).toBe(0);
    expect(text.out).not.toMatch(RAW);
    expect(text.out).toContain(`sub=${ESCAPED}`);
    expect(text.out.trim().split('\n')).toHaveLength(1);

    const json = await cli('--json', 'audit', 'tail', '--from-start', '--limit', '1');
    expect(json.code).toBe(0);
    expect(json.out).not.toMatch(RAW);
    expect((JSON.parse(json.out) as { subject: string }).subject).toBe(SUBJECT);
  });

  it('are escaped in what other commands print, as text and as JSON', async () => {
    // DEL and C0 are refused in ids; C1, separators and bidi controls are not.
    const subject = 'ann\u0085x\u2028y\u202ez';
    const text = await cli('revoke', 'subject', subject, '--no-audit');
    expect(text.code).toBe(0);
    expect(text.out).not.toMatch(RAW);
    expect(text.out).toContain('subject ann\\u{85}x\\u{2028}y\\u{202e}z issued');

    const json = await cli('--json', 'revoke', 'subject', subject, '--no-audit');
    expect(json.code).toBe(0);
    expect(json.out).not.toMatch(RAW);
    expect((JSON.parse(json.out) as { id: string }).id).toBe(subject);
  });

  it('are escaped in the CSV and JSON-lines exports', async () => {
    const csv = await cli('audit', 'export', '--format', 'csv');
    expect(csv.code).toBe(0);
    expect(csv.out).not.toMatch(RAW);
    const row = csv.out.split('\r\n')[1]!;
    expect(row).toContain(`,${ESCAPED},`);
    expect(row).toContain('curl\\u{2029}/8');
    expect(row).toContain('a\\u{90}b');

    const jsonl = await cli('audit', 'export');
    expect(jsonl.code).toBe(0);
    expect(jsonl.out).not.toMatch(RAW);
    expect((JSON.parse(jsonl.out) as { subject: string }).subject).toBe(SUBJECT);
  });
});
