import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { runCli } from '@tokenwarden/cli';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr, env: {} }, out: () => out, err: () => err };
}

describe('tokenwarden', () => {
  it('lists its command groups in --help and exits 0', async () => {
    const run = io();
    expect(await runCli(['--help'], run.io)).toBe(0);
    expect(run.out()).toContain('audit');
  });

  it('refuses an unknown command with a non-zero exit and a message', async () => {
    const run = io();
    expect(await runCli(['frobnicate'], run.io)).not.toBe(0);
    expect(run.err()).toMatch(/unknown command/);
  });
});

describe('shared options', () => {
  it('refuses a malformed --redis-url without echoing it', async () => {
    const run = io();
    const code = await runCli(['--redis-url', 'http://user:hunter2@x', 'revoke', 'all'], run.io);
    expect(code).not.toBe(0);
    expect(run.err()).not.toContain('hunter2');
  });
});
