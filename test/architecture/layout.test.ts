/**
 * The layout tells the architecture: no source file of a package grows past 400 lines, the warden
 * stays a small facade, and the Express and Koa adapters stay translations: the middleware and its
 * route steps in 150 lines, each extra endpoint (a secret scanner's, for one) a file of at most 40
 * lines that only moves core's answer into the framework's response, 200 lines in all.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').length - 1;
}

const packages = readdirSync(join(ROOT, 'packages'));

describe('the layout', () => {
  it('keeps every package source file at 400 lines or fewer', () => {
    const long = packages
      .flatMap((pkg) => sources(join(ROOT, 'packages', pkg, 'src')))
      .map((path) => [relative(ROOT, path), lines(path)] as const)
      .filter(([, count]) => count > 400);
    expect(long).toEqual([]);
  });

  it('keeps the warden a facade of at most 250 lines', () => {
    expect(lines(join(ROOT, 'packages/core/src/warden.ts'))).toBeLessThanOrEqual(250);
  });

  describe.each(['express', 'koa'])('the %s adapter', (adapter) => {
    const files = sources(join(ROOT, 'packages', adapter, 'src'));

    it('keeps its middleware and route steps at 150 lines or fewer', () => {
      expect(lines(join(ROOT, 'packages', adapter, 'src/index.ts'))).toBeLessThanOrEqual(150);
    });

    it('keeps each extra endpoint a translation of at most 40 lines', () => {
      const long = files
        .filter((path) => !path.endsWith('index.ts'))
        .map((path) => [relative(ROOT, path), lines(path)] as const)
        .filter(([, count]) => count > 40);
      expect(long).toEqual([]);
    });

    it('stays at 200 lines in all', () => {
      expect(files.map(lines).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(200);
    });
  });
});
