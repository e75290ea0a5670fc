import { describe, expect, it } from '@jest/globals';
import { CliError, runCli } from '@tokenwarden/cli';
import { TokenwardenError } from '@tokenwarden/core';
import { captureIo } from './support';

describe('tokenwarden', () => {
  it('lists its command groups in --help and exits 0', async () => {
    const run = captureIo();
    expect(await runCli(['--help'], run.io)).toBe(0);
    expect(run.out()).toContain('audit');
  });

  it('refuses an unknown command with a non-zero exit and a message', async () => {
    const run = captureIo();
    expect(await runCli(['frobnicate'], run.io)).not.toBe(0);
    expect(run.err()).toMatch(/unknown command/);
  });
});

describe('shared options', () => {
  it('refuses a malformed --redis-url without echoing it', async () => {
    const run = captureIo();
    const code = await runCli(['--redis-url', 'http://user:hunter2@x', 'revoke', 'all'], run.io);
    expect(code).not.toBe(0);
    expect(run.err()).not.toContain('hunter2');
  });
});

describe('CliError', () => {
  it('is a TokenwardenError whose code follows its exit code', () => {
    const usage = new CliError('--format must be one of text, json', 2);
    expect(usage).toBeInstanceOf(TokenwardenError);
    expect(usage).toMatchObject({ name: 'CliError', code: 'cli_usage', exitCode: 2 });
    expect(new CliError('audit verification failed')).toMatchObject({
      code: 'cli_failed',
      exitCode: 1,
    });
    expect(new CliError('cannot read from Redis', 3)).toMatchObject({
      code: 'cli_failed',
      exitCode: 3,
    });
  });

  it('is what a usage mistake is reported with: one line on stderr and exit code 2', async () => {
    const run = captureIo();
    expect(await runCli(['revoke', 'all'], run.io)).toBe(2);
    expect(run.err()).toBe(
      'tokenwarden: no Redis to use: pass --redis-url redis://host:6379 or set REDIS_URL\n',
    );
  });
});
