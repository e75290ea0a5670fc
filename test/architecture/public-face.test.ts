/**
 * The public face: the API report of every published entry is up to date with the sources (so a
 * change of the surface shows in review), and the built declarations of `@tokenwarden/core` carry
 * no internal member and none of the pipeline's own types.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runProcess } from '@tokenwarden/testing';

const ROOT = resolve(__dirname, '../..');

describe('the public face', () => {
  it('matches the committed API reports (pnpm api:report rewrites them)', async () => {
    const result = await runProcess(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['scripts/api-report.ts', '--check'],
      { cwd: ROOT, timeoutMs: 120_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('keeps internals and pipeline types out of the core declarations', () => {
    for (const file of ['index.d.ts', 'index.d.cts']) {
      const dts = readFileSync(join(ROOT, 'packages/core/dist', file), 'utf8');
      expect(dts).not.toContain('@internal');
      for (const name of ['RequestContext', 'PipelineAccess', 'CompiledRequirement', 'Stage ']) {
        expect(dts).not.toMatch(new RegExp(`(interface|class|type) ${name.trim()}\\b`));
      }
    }
  });

  it('exports from core only what the docs and the public signatures need', () => {
    const report = readFileSync(join(ROOT, 'packages/core/api-report.md'), 'utf8');
    const main = report.split('## @tokenwarden/core/')[0]!;
    for (const internal of ['canonicalJson', 'CachingStore', 'fetchJson', 'normalizeHtu']) {
      expect(main).not.toContain(`\`${internal}\``);
    }
    expect(main).toContain('`createWarden`');
  });
});
