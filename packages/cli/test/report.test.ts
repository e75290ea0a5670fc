import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  AccessReport,
  ExposureReport,
  HygieneReport,
  ScopesReport,
} from '@tokenwarden/core/reports';
import { RedisCredentialStore, RedisStore, RedisStreamSink } from '@tokenwarden/redis';
import { chainedEvents, deleteKeys } from '@tokenwarden/testing';
import { jsonLines, POLICY_TEXT, scenario } from '../../core/test/report/generate';
import { runCaptured } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-cli-report-${randomBytes(6).toString('hex')}-`;
let n = 0;
const nextPrefix = () => `${BASE}${(n += 1)}:`;

const s = scenario();
let dir: string;
let trail: string;
let policy: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-report-'));
  trail = join(dir, 'audit.jsonl');
  policy = join(dir, 'policy.yaml');
  writeFileSync(trail, jsonLines(s.events));
  writeFileSync(policy, POLICY_TEXT);
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await deleteKeys(PORT, BASE);
});

const leak = () => new Date(s.leakedAt).toISOString();

describe('tokenwarden report exposure', () => {
  it('prints the Markdown breach record by default', async () => {
    const run = await runCaptured([
      'report',
      'exposure',
      '--file',
      trail,
      '--policy',
      policy,
      '--token-id',
      'tok-leak',
      '--leaked-at',
      leak(),
    ]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const truth = s.builder.uses.get('tok-leak')!;
    expect(run.out).toContain('# Exposure report: token tok-leak');
    expect(run.out).toContain(
      `- **uses**: ${truth.uses} (${truth.allowed} allowed, ${truth.denied} denied)`,
    );
    expect(run.out).toContain(`- **suspected leak**: ${leak()}`);
    expect(run.out).toContain('- **revoked**: yes, ');
    expect(run.out).toContain('- **audit chain**: verified: 2 chain(s)');
    expect(run.out).toContain('| 198.51.100.0 | 30 | 30 |');
  });

  it('gives JSON for scripts with --json, limited to a period', async () => {
    const since = new Date(s.leakedAt).toISOString();
    const run = await runCaptured([
      '--json',
      'report',
      'exposure',
      '--file',
      trail,
      '--policy',
      policy,
      '--token-id',
      'tok-leak',
      '--since',
      since,
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as ExposureReport;
    expect(report.kind).toBe('exposure');
    expect(report.period.since).toBe(since);
    expect(report.didReach.uses).toBe(s.builder.uses.get('tok-leak')!.usesAfterLeak);
    expect(report.chain.verified).toBe(true);
  });

  it('writes CSV, one row per use, to a file only its owner can read', async () => {
    const out = join(dir, 'uses.csv');
    const run = await runCaptured([
      'report',
      'exposure',
      '--file',
      trail,
      '--token-id',
      'tok-leak',
      '--format',
      'csv',
      '--output',
      out,
    ]);
    expect(run.code).toBe(0);
    expect(run.out).toBe('');
    expect(readFileSync(out, 'utf8').trimEnd().split('\r\n')).toHaveLength(61);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('reads the Redis stream, and the store for the revocation state now', async () => {
    const prefix = nextPrefix();
    const start = Date.now() - 30_000;
    const events = chainedEvents('node-1', 1, 30, undefined, (seq) => ({
      time: new Date(start + seq * 500).toISOString(),
      tokenId: 'jti-9',
      client: 'crm',
      dataSubject: `c-${Math.floor(seq / 2) % 4}`,
    }));
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    await sink.write(events);
    await sink.close();
    const store = new RedisStore({ url: REDIS_URL, prefix });
    await store.revokeToken('jti-9', Date.now() + 60_000);
    await store.close();
    const run = await runCaptured([
      '--redis-url',
      REDIS_URL,
      '--prefix',
      prefix,
      '--json',
      'report',
      'exposure',
      '--token-id',
      'jti-9',
      '--progress',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as ExposureReport;
    expect(report.didReach.uses).toBe(30);
    expect(report.didReach.allowed).toBe(15);
    expect(report.didReach.dataSubjects).toBe(4);
    expect(report.revocation.current?.tokenRevoked).toBe(true);
    expect(report.source).toMatch(/^redis stream /);
    expect(run.err).toContain('reading the audit trail');
  });

  it('prints the report, then fails, when the chain does not verify', async () => {
    const tampered = join(dir, 'tampered.jsonl');
    const lines = jsonLines(s.events).split('\n');
    lines[40] = lines[40]!.replace(/"status":\d+/, '"status":204');
    writeFileSync(tampered, lines.join('\n'));
    const victim = s.events[40]!;
    const run = await runCaptured([
      'report',
      'exposure',
      '--file',
      tampered,
      '--client',
      'crm',
      '--format',
      'text',
    ]);
    expect(run.code).toBe(1);
    expect(run.out).toContain(
      `audit chain: NOT VERIFIED: ${victim.producer}: 1 problem(s), first: altered at seq ${victim.seq}`,
    );
    expect(run.err).toContain('tokenwarden: the audit chain did not verify for this period');
  });
});

describe('tokenwarden report access, scopes, hygiene', () => {
  it('access: JSON of the clients and tokens that touched a person', async () => {
    const run = await runCaptured([
      'report',
      'access',
      '--file',
      trail,
      '--policy',
      policy,
      '--data-subject',
      'cust-3',
      '--format',
      'json',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as AccessReport;
    const truth = s.builder.subjects.get('cust-3')!;
    expect(report.accesses).toBe(truth.accesses);
    expect(report.recipients.map((r) => r.client).sort()).toEqual(
      [...truth.byClient.keys()].sort(),
    );
    expect(report.consent.map((c) => c.type)).toEqual(['consent.granted', 'consent.withdrawn']);
  });

  it('scopes: the scopes to remove, as text', async () => {
    const run = await runCaptured([
      'report',
      'scopes',
      '--file',
      trail,
      '--policy',
      policy,
      '--since',
      '2029-01-01T00:00:00Z',
    ]);
    expect(run.code).toBe(0);
    expect(run.out).toContain('LEAST PRIVILEGE: SCOPES GRANTED VS EXERCISED');
    expect(run.out).toContain('  support-console: customers:write');
    expect(run.out).toContain('period: 2029-01-01T00:00:00.000Z to end of the trail');
    const json = await runCaptured([
      '--json',
      'report',
      'scopes',
      '--file',
      trail,
      '--policy',
      policy,
      '--since',
      '2029-01-01T00:00:00Z',
    ]);
    const report = JSON.parse(json.out) as ScopesReport;
    expect(report.clients.find((c) => c.client === 'batch')!.toRemove).toEqual([]);
  });

  it('hygiene: API keys from Redis, lifetimes and routes from the trail and the policy', async () => {
    const prefix = nextPrefix();
    const credentials = new RedisCredentialStore({ url: REDIS_URL, prefix });
    const now = Date.now();
    const day = 86_400_000;
    await credentials.createApiKey({
      keyId: 'ak_cli_old',
      hash: randomBytes(32).toString('hex'),
      client: 'batch',
      subject: 'batch',
      scopes: ['orders:read'],
      environment: 'live',
      createdAt: now - 20 * day,
      expiresAt: now + 2 * day,
    });
    await credentials.close();
    const run = await runCaptured([
      '--redis-url',
      REDIS_URL,
      '--prefix',
      prefix,
      '--json',
      'report',
      'hygiene',
      '--file',
      trail,
      '--policy',
      policy,
      '--since',
      '2029-01-01T00:00:00Z',
    ]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as HygieneReport;
    expect(report.checked).toEqual({ apiKeys: 1, signingKeys: 0 });
    const found = report.findings.map((f) => `${f.kind} ${f.target}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'api_key_past_rotation ak_cli_old',
        'client_past_rotation batch',
        'api_key_expiring_soon ak_cli_old',
        'token_lifetime_over_cap support-console',
        'route_without_basis GET /exports/orders',
        'route_not_in_policy GET /legacy/export',
      ]),
    );
    expect(found).not.toContain('api_key_unused ak_cli_old');
  });
});

describe('tokenwarden report: bad input', () => {
  it.each([
    [['report', 'exposure', '--file', 'x.jsonl'], 2, 'name exactly one credential'],
    [
      ['report', 'exposure', '--file', 'x.jsonl', '--client', 'a', '--subject', 'b'],
      2,
      'name exactly one credential',
    ],
    [['report', 'exposure', '--client', 'crm'], 2, 'no audit trail to read: pass --file'],
    [
      ['report', 'scopes', '--file', '/nonexistent/audit.jsonl'],
      2,
      '--file: cannot read /nonexistent/audit.jsonl (ENOENT)',
    ],
    [
      ['report', 'scopes', '--file', 'x.jsonl', '--since', 'yesterday'],
      2,
      '--since must be an ISO 8601 time',
    ],
    [
      ['report', 'exposure', '--file', 'x.jsonl', '--client', 'a', '--leaked-at', '2030-13-45'],
      2,
      '--leaked-at must be an ISO 8601 time',
    ],
    [
      ['report', 'scopes', '--file', 'x.jsonl', '--since', '1d', '--until', '2d'],
      2,
      '--since must not be later than --until',
    ],
    [
      ['report', 'scopes', '--file', 'x.jsonl', '--format', 'pdf'],
      2,
      '--format must be one of markdown, text, html, json, csv',
    ],
    [
      ['report', 'scopes', '--file', 'x.jsonl', '--policy', '/nonexistent/policy.yaml'],
      2,
      'cannot read the policy file',
    ],
    [
      ['report', 'hygiene', '--file', 'x.jsonl', '--near-cap', '2'],
      2,
      '--near-cap must be a ratio',
    ],
    [
      ['report', 'hygiene', '--file', 'x.jsonl', '--expiring-within', 'soon'],
      2,
      '--expiring-within must be a duration',
    ],
    [['--redis-url', 'http://example.test', 'report', 'scopes'], 2, '--redis-url'],
    [['--redis-url', 'redis://127.0.0.1:1', 'report', 'scopes'], 1, 'cannot read from Redis'],
  ])('%j exits %i: %s', async (argv, code, message) => {
    const run = await runCaptured(argv as string[]);
    expect(run.code).toBe(code);
    expect(run.err).toContain(message);
    expect(run.out).toBe('');
  });

  it('a bad Redis URL is refused without being echoed', async () => {
    const run = await runCaptured(['--redis-url', 'redis://user:hunter2@/x', 'report', 'scopes']);
    expect(run.code).toBe(2);
    expect(run.err).not.toContain('hunter2');
  });
});
