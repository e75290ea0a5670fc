/**
 * The built package, not the sources: tsup bundles with esbuild, which emits no decorator
 * metadata, so only explicit @Inject() keeps DI working. Runs a real Nest app on the build (made
 * fresh by jest's global setup) in a child `node`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { mintToken, runProcess, TEST_AUDIENCE, TEST_ISSUER, testKeys } from '@tokenwarden/testing';

const ROOT = resolve(__dirname, '../../..');

describe('the built @tokenwarden/nest', () => {
  it('carries no design:paramtypes, so DI rests on explicit @Inject()', () => {
    for (const file of ['index.cjs', 'index.js']) {
      const text = readFileSync(join(ROOT, 'packages/nest/dist', file), 'utf8');
      expect(text).not.toContain('design:paramtypes');
      // Frameworks and core stay external, imported by their package names only (and core's
      // declared `internal` entry, which the adapters share): never a file inside a package.
      expect(text).toMatch(/["']@tokenwarden\/core["']/);
      expect(text).not.toMatch(
        /["'](@nestjs\/[a-z-]+|@tokenwarden\/core)\/(?!internal["'])[^"']*["']/,
      );
    }
  });

  it.each([
    ['cjs', 'express'],
    ['cjs', 'fastify'],
    ['esm', 'express'],
    ['esm', 'fastify'],
  ])(
    '%s build on %s: the guard gets the warden (200, 401, revoke, metrics)',
    async (format, platform) => {
      const env = {
        ...process.env,
        TW_SECRET: testKeys().hs256.toString('base64url'),
        TW_ISSUER: TEST_ISSUER,
        TW_AUDIENCE: TEST_AUDIENCE,
        TW_TOKEN: mintToken({ claims: { sub: 'dist-user' } }),
      };
      const fixture = join(__dirname, 'fixtures', 'dist-app.cjs');
      const result = await runProcess(process.execPath, [fixture, format, platform], {
        cwd: ROOT,
        env,
        timeoutMs: 90_000,
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.trim().split('\n')).toEqual([
        'with token 200 dist-user',
        'without token 401 application/problem+json Bearer realm="api"',
        'logout 201',
        'after logout 401 token_revoked',
        'metrics 200 true',
      ]);
    },
    60_000,
  );
});
