/**
 * The layout tells the architecture: no source file of a package grows past 400 lines, the warden
 * stays a small facade, and the Express and Koa adapters stay translations (150 lines each, token
 * endpoint included).
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

  it.each(['express', 'koa'])('keeps the %s adapter at 150 lines or fewer', (adapter) => {
    const total = sources(join(ROOT, 'packages', adapter, 'src'))
      .map(lines)
      .reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(150);
  });
});
