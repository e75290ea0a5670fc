/**
 * The conventions every `tokenwarden` command follows, checked on the real binary in a child
 * process: --version and help, exit codes (0 ok, 1 failure, 2 usage), errors as JSON with
 * --json, one time format family and ISO times in JSON, refusals with a hint, a closed pipe,
 * `policy check` in the policy's own words, and the root script of a clone.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisStreamSink } from '@tokenwarden/redis';
import { chainedEvents, deleteKeys, TEST_POLICY } from '@tokenwarden/testing';
import { finished, ROOT, runBin, spawnBin } from './support';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const PREFIX = `tw-cli-bin-${randomBytes(6).toString('hex')}:`;
const DAY = 86_400_000;
let dir: string;

/** The binary against the test Redis and prefix. */
const cli = (...args: string[]) => runBin(['--redis-url', REDIS_URL, '--prefix', PREFIX, ...args]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-bin-'));
});
afterAll(async () => {
  await deleteKeys(PORT, PREFIX);
  rmSync(dir, { recursive: true, force: true });
});

describe('tokenwarden (the binary)', () => {
  it('prints its version with --version and -V, exit 0', async () => {
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    for (const flag of ['--version', '-V']) {
      expect(await runBin([flag])).toEqual({ code: 0, out: `${version}\n`, err: '' });
    }
  });

  it("lists the global options in every command's help, and no change flags on read-only ones", async () => {
    for (const command of [
      ['consent', 'show'],
      ['apikey', 'list'],
      ['audit', 'export'],
    ]) {
      const help = await runBin([...command, '--help']);
      expect(help.code).toBe(0);
      for (const flag of ['--redis-url', '--prefix', '--json']) expect(help.out).toContain(flag);
    }
    for (const readOnly of [
      ['consent', 'show'],
      ['apikey', 'list'],
    ]) {
      const help = (await runBin([...readOnly, '--help'])).out;
      for (const flag of ['--actor', '--audit-file', '--audit-stream', '--max-token-lifetime']) {
        expect(help).not.toContain(flag);
      }
    }
    // A command that changes something keeps them.
    expect((await runBin(['consent', 'grant', '--help'])).out).toContain('--audit-file');
  });

  it('exits 2 on usage errors, 1 on failures, 0 on success', async () => {
    const unknownOption = await runBin(['consent', 'show', 'u', 'p', '--frobnicate']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.err).toBe("tokenwarden: unknown option '--frobnicate'\n");

    const missingArgument = await runBin(['consent', 'show']);
    expect(missingArgument.code).toBe(2);
    expect(missingArgument.err).toMatch(/^tokenwarden: missing required argument 'subject'/);

    const noRedis = await runBin(['consent', 'show', 'u', 'p']);
    expect(noRedis.code).toBe(2);

    // Nothing listens on port 1: the command cannot do its work.
    const unreachable = await runBin(['--redis-url', 'redis://127.0.0.1:1', 'apikey', 'list']);
    expect(unreachable.code).toBe(1);
    // Every line is the CLI's own, no stack trace.
    expect(unreachable.err.trim().split('\n')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^tokenwarden: .*ECONNREFUSED/)]),
    );
    for (const line of unreachable.err.trim().split('\n')) {
      expect(line).toMatch(/^(\[tokenwarden\] |tokenwarden: )/);
    }

    const missing = await cli('consent', 'show', 'user-none', 'marketing');
    expect(missing.code).toBe(1);
    expect(missing.out).toBe('No consent record for user-none / marketing.\n');
    expect(missing.err).toBe('');

    const granted = await cli('consent', 'grant', 'user-1', 'marketing', '--any-purpose');
    expect(granted.code).toBe(0);
    expect((await cli('consent', 'show', 'user-1', 'marketing')).code).toBe(0);
  });

  it('with --json, prints errors as one JSON document on stderr', async () => {
    const usage = await runBin(['--json', 'consent', 'show', 'u', 'p', '--frobnicate']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.err)).toEqual({
      error: { code: 'cli_usage', message: "unknown option '--frobnicate'", exitCode: 2 },
    });

    const refused = await cli('--json', 'apikey', 'create', '--client', 'c');
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.err)).toMatchObject({ error: { code: 'cli_usage', exitCode: 2 } });

    const missing = await cli('--json', 'consent', 'show', 'user-none', 'marketing');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.out)).toEqual({
      subject: 'user-none',
      purpose: 'marketing',
      status: 'none',
    });

    const failed = await runBin(['--json', '--redis-url', 'redis://127.0.0.1:1', 'apikey', 'list']);
    expect(failed.code).toBe(1);
    // Every line is a JSON document (warnings first), the last one the error.
    const lines = failed.err
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ error: { exitCode: 1 } });
  });

  it('takes ISO times and durations for --before and --since alike, and answers ISO times in JSON', async () => {
    const before = Date.now();
    const relative = await cli('--json', 'revoke', 'subject', 'user-7', '--before', '7d');
    expect(relative.code).toBe(0);
    const at = Date.parse((JSON.parse(relative.out) as { before: string }).before);
    expect(at).toBeGreaterThanOrEqual(before - 7 * DAY - 1_000);
    expect(at).toBeLessThanOrEqual(Date.now() - 7 * DAY + 1_000);

    const iso = '2030-01-31T12:00:00.000Z';
    const absolute = await cli('--json', 'revoke', 'client', 'billing', '--before', iso);
    expect(JSON.parse(absolute.out)).toMatchObject({ before: iso });

    expect((await cli('audit', 'export', '--since', '7d')).code).toBe(0);
    expect((await cli('audit', 'export', '--since', iso, '--until', iso)).code).toBe(0);
    const bad = await cli('revoke', 'subject', 'x', '--before', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/ISO 8601 .* duration/);

    const consent = await cli(
      '--json',
      'consent',
      'grant',
      'user-2',
      'marketing',
      '--any-purpose',
      '--expires-at',
      '30d',
    );
    const record = JSON.parse(consent.out) as Record<string, unknown>;
    for (const key of ['grantedAt', 'expiresAt']) {
      expect(record[key]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    // A duration counts ahead for an expiry.
    expect(Date.parse(record['expiresAt'] as string)).toBeGreaterThan(Date.now() + 29 * DAY);

    const key = await cli('--json', 'apikey', 'create', '--client', 'times', '--scope', 'a');
    const shown = JSON.parse(key.out) as Record<string, unknown>;
    expect(shown['createdAt']).toMatch(/Z$/);
    expect(shown['expiresAt']).toMatch(/Z$/);
  });

  it('refuses consent without a policy and an API key without a scope, with a hint', async () => {
    const consent = await cli('consent', 'grant', 'c-1', 'marketting');
    expect(consent.code).toBe(2);
    expect(consent.err).toMatch(/without a policy: pass --policy <file>.*--any-purpose/);

    const policy = join(dir, 'tokenwarden.policy.yaml');
    writeFileSync(policy, TEST_POLICY);
    const typo = await cli('consent', 'grant', 'c-1', 'marketting', '--policy', policy);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/not declared in the policy/);

    const noScope = await cli('apikey', 'create', '--client', 'nightly');
    expect(noScope.code).toBe(2);
    expect(noScope.err).toMatch(/--scope <scope>.*--no-scopes/);
    expect(noScope.out).toBe('');

    const both = await cli(
      'apikey',
      'create',
      '--client',
      'nightly',
      '--scope',
      'a',
      '--no-scopes',
    );
    expect(both.code).toBe(2);

    const none = await cli('--json', 'apikey', 'create', '--client', 'nightly', '--no-scopes');
    expect(none.code).toBe(0);
    expect(JSON.parse(none.out)).toMatchObject({ client: 'nightly', scopes: [] });
  });

  it('stops quietly with exit 0 when the reader of its output goes away (audit export | head)', async () => {
    const prefix = `${PREFIX}pipe:`;
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    await sink.write(chainedEvents('api-1', 1, 3_000));
    await sink.close();
    // Read the first chunk, then close the read end, as `head -n 1` does.
    const child = spawnBin([
      '--redis-url',
      REDIS_URL,
      '--prefix',
      prefix,
      'audit',
      'export',
      '--format',
      'csv',
    ]);
    child.stdout.once('data', () => child.stdout.destroy());
    const { code, err } = await finished(child);
    expect(err).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(code).toBe(0);
  });

  it("tells policy check's findings in the policy's words, with the file and line", async () => {
    const file = join(dir, 'names.policy.yaml');
    writeFileSync(
      file,
      TEST_POLICY.replace(/^ {2}marketing:/m, '  "direct marketing":').replace(
        /^audience: .*$/m,
        'audience: 42',
      ),
    );
    const run = await runBin(['policy', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.out).not.toMatch(/Invalid key in record|Invalid input/);
    expect(run.out).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: error purposes\\.direct marketing: 'direct marketing' is not a valid purpose name: purpose names are 1-256 characters with no spaces`,
        'm',
      ),
    );
    expect(run.out).toMatch(/:\d+:\d+: error audience: this value is of the wrong kind/);
  });
});

describe('a clone of the repository', () => {
  it('runs the CLI from the workspace root as `pnpm tokenwarden`', async () => {
    const child = spawn('pnpm', ['tokenwarden', '--version'], { cwd: ROOT, stdio: 'pipe' });
    const run = await finished(child);
    expect(run.code).toBe(0);
    expect(run.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
