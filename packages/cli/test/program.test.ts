import { describe, expect, it } from '@jest/globals';
import { runCli } from '@tokenwarden/cli';
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
