import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { runCli } from '@tokenwarden/cli';
import { captureIo } from './support';

const FIXTURES = join(__dirname, '..', '..', 'core', 'test', 'policy', 'fixtures');

describe('tokenwarden policy check', () => {
  it('passes a clean policy with exit 0', async () => {
    const run = captureIo();
    const file = join(FIXTURES, 'valid.policy.yaml');
    expect(await runCli(['policy', 'check', file], run.io)).toBe(0);
    expect(run.out()).toBe(`${file}: policy OK\n`);
  });

  it('lists each finding with its line and fix and exits 1 on errors', async () => {
    const run = captureIo();
    const file = join(FIXTURES, 'broken.policy.yaml');
    expect(await runCli(['policy', 'check', file], run.io)).toBe(1);
    const lines = run.out().trim().split('\n');
    expect(lines).toContain(
      `${file}:23:30: error clients.crm.scopes[1]: unknown scope 'orders:wirte'; declare it under scopes or fix the name (did you mean 'orders:write'?)`,
    );
    expect(lines.at(-1)).toBe(`${file}: 3 error(s), 6 warning(s)`);
    expect(run.err()).toContain('does not pass the policy check');
  });

  it('prints JSON with --json', async () => {
    const run = captureIo();
    const file = join(FIXTURES, 'broken.policy.yaml');
    await runCli(['--json', 'policy', 'check', file], run.io);
    const report = JSON.parse(run.out()) as { errors: number; diagnostics: { line: number }[] };
    expect(report.errors).toBe(3);
    expect(report.diagnostics[0]).toMatchObject({ line: 7, severity: 'warning', path: 'signing' });
  });

  it('fails --strict on warnings and reports an unreadable file with exit 2', async () => {
    const run = captureIo();
    const warnOnly = join(FIXTURES, 'valid.policy.yaml');
    expect(await runCli(['policy', 'check', '--strict', warnOnly], run.io)).toBe(0);
    const missing = captureIo();
    expect(await runCli(['policy', 'check', join(FIXTURES, 'nope.yaml')], missing.io)).toBe(2);
    expect(missing.err()).toMatch(/ENOENT/);
  });
});
