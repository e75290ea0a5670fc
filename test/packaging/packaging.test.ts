/**
 * Checks the packed artifacts, not the sources: `pnpm pack` each published package, install the
 * tarballs and their peers with npm into a plain Node project outside the repository, then run
 * an ESM and a CommonJS consumer under real `node`. Jest resolves `@tokenwarden/*` to the sources and lets
 * named imports from CommonJS pass, so only this catches a broken `exports` map, a bundled
 * dependency or `import { sign } from 'jsonwebtoken'` in the ESM build.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProcess } from '@tokenwarden/testing';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = join(__dirname, 'fixtures');
const PUBLISHED = ['core', 'express', 'koa', 'nest', 'redis'] as const;
const BUILD_OUTPUTS = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'];
const ATTW_VERSION = '0.18.5';
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund'];

/** Runs a command; rejects with its output when it exits non-zero. */
async function runOk(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs?: number,
): Promise<string> {
  const result = await runProcess(command, args, { cwd, ...(timeoutMs ? { timeoutMs } : {}) });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${String(result.code)} in ${cwd}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
  readonly manifest: Manifest;
}

/** Packs one package with pnpm (which rewrites `workspace:` and `catalog:` ranges). */
async function pack(pkg: string, destination: string): Promise<Packed> {
  const out = await runOk(
    'pnpm',
    ['pack', '--json', '--pack-destination', destination],
    join(ROOT, 'packages', pkg),
  );
  const summary = JSON.parse(out) as { filename: string; files: { path: string }[] };
  const manifest = JSON.parse(
    await runOk('tar', ['-xzOf', summary.filename, 'package/package.json'], destination),
  ) as Manifest;
  return { tarball: summary.filename, files: summary.files.map((f) => f.path).sort(), manifest };
}

function packedOf(name: string): Packed {
  const result = packed.get(name);
  if (!result) throw new Error(`${name} was not packed`);
  return result;
}

function ranges(manifest: Manifest): [string, string][] {
  return [
    ...Object.entries(manifest.dependencies ?? {}),
    ...Object.entries(manifest.peerDependencies ?? {}),
  ];
}

function expectedOutput(build: string): string {
  return [
    `entry: @tokenwarden/core -> dist/${build}`,
    `entry: @tokenwarden/express -> dist/${build}`,
    `entry: @tokenwarden/koa -> dist/${build}`,
    `entry: @tokenwarden/nest -> dist/${build}`,
    `entry: @tokenwarden/redis -> dist/${build}`,
    'core: with token allow authorized user-1',
    'core: without token deny 401 token_missing',
    'express: with token 200 user-1',
    'express: without token 401 Bearer',
    'koa: with token 200 user-1',
    'koa: without token 401 Bearer',
    'nest: with token 200 user-1',
    'nest: without token 401 Bearer',
    'redis: RedisStore lookup allow authorized',
    '',
  ].join('\n');
}

let work = '';
let consumer = '';
let nest11 = '';
let tools = '';
const packed = new Map<string, Packed>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tokenwarden-packaging-'));
  const tarballs = join(work, 'tarballs');
  consumer = join(work, 'consumer');
  nest11 = join(work, 'nest11');
  tools = join(work, 'tools');
  await Promise.all([tarballs, consumer, nest11, tools].map((dir) => mkdir(dir)));

  for (const result of await Promise.all(PUBLISHED.map((pkg) => pack(pkg, tarballs)))) {
    packed.set(result.manifest.name, result);
  }
  const peers = [...packed.values()].flatMap((p) =>
    Object.entries(p.manifest.peerDependencies ?? {}).map(([name, range]) => `${name}@${range}`),
  );
  const jwtRange = packedOf('@tokenwarden/core').manifest.dependencies?.jsonwebtoken;
  if (!jwtRange) throw new Error('@tokenwarden/core must depend on jsonwebtoken');

  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'tokenwarden-consumer', version: '0.0.0', private: true }),
  );
  await writeFile(
    join(nest11, 'package.json'),
    JSON.stringify({ name: 'tokenwarden-nest11-consumer', version: '0.0.0', private: true }),
  );
  await writeFile(
    join(tools, 'package.json'),
    JSON.stringify({ name: 'tokenwarden-tools', version: '0.0.0', private: true }),
  );
  for (const file of ['scenario.cjs', 'consumer.mjs', 'consumer.cjs']) {
    await copyFile(join(FIXTURES, file), join(consumer, file));
  }
  for (const file of ['scenario.cjs', 'consumer-nest.mjs', 'consumer-nest.cjs']) {
    await copyFile(join(FIXTURES, file), join(nest11, file));
  }
  const tarballPaths = [...packed.values()].map((p) => p.tarball);
  await Promise.all([
    runOk(
      'npm',
      [
        ...NPM_INSTALL,
        ...tarballPaths,
        ...peers,
        `jsonwebtoken@${jwtRange}`,
        // The Nest consumer serves HTTP through Nest's Express platform.
        `@nestjs/platform-express@${packedOf('@tokenwarden/nest').manifest.peerDependencies?.['@nestjs/core'] ?? ''}`,
      ],
      consumer,
    ),
    // The peer range admits Nest 11 (CommonJS) as well as Nest 12 (ESM only): prove it.
    runOk(
      'npm',
      [
        ...NPM_INSTALL,
        packedOf('@tokenwarden/core').tarball,
        packedOf('@tokenwarden/nest').tarball,
        `jsonwebtoken@${jwtRange}`,
        'prom-client@^15',
        '@nestjs/common@^11',
        '@nestjs/core@^11',
        '@nestjs/platform-express@^11',
        'reflect-metadata@^0.2',
        'rxjs@^7.8',
      ],
      nest11,
    ),
    runOk('npm', [...NPM_INSTALL, `@arethetypeswrong/cli@${ATTW_VERSION}`], tools),
  ]);
}, 180_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('packed packages', () => {
  it.each(PUBLISHED)('@tokenwarden/%s ships its build and resolved ranges', (pkg) => {
    const { files, manifest } = packedOf(`@tokenwarden/${pkg}`);
    expect(files.filter((file) => file.startsWith('dist/'))).toEqual(
      BUILD_OUTPUTS.map((file) => `dist/${file}`).sort(),
    );
    expect(files).toContain('package.json');
    for (const file of files) expect(file).toMatch(/^(dist\/|package\.json$|README\.md$|LICENSE)/);
    for (const [name, range] of ranges(manifest)) {
      expect(`${name}@${range}`).not.toMatch(/@(workspace|catalog):/);
    }
  });

  it('keeps runtime libraries as dependencies and frameworks as peers', () => {
    const manifest = (name: string): Manifest => packedOf(name).manifest;
    const core = manifest('@tokenwarden/core');
    const express = manifest('@tokenwarden/express');
    const koa = manifest('@tokenwarden/koa');
    const nest = manifest('@tokenwarden/nest');
    const redis = manifest('@tokenwarden/redis');
    // yaml and zod read and validate the policy file.
    expect(Object.keys(core.dependencies ?? {})).toEqual(['jsonwebtoken', 'yaml', 'zod']);
    expect(Object.keys(core.peerDependencies ?? {})).toEqual(['prom-client']);
    expect(express.dependencies).toEqual({ '@tokenwarden/core': `^${core.version}` });
    expect(Object.keys(express.peerDependencies ?? {})).toEqual(['express']);
    expect(koa.dependencies).toEqual({ '@tokenwarden/core': `^${core.version}` });
    expect(Object.keys(koa.peerDependencies ?? {})).toEqual(['koa']);
    expect(nest.dependencies).toEqual({ '@tokenwarden/core': `^${core.version}` });
    expect(Object.keys(nest.peerDependencies ?? {}).sort()).toEqual([
      '@nestjs/common',
      '@nestjs/core',
      'reflect-metadata',
      'rxjs',
    ]);
    expect(redis.dependencies).toEqual({ '@tokenwarden/core': `^${core.version}` });
    expect(Object.keys(redis.peerDependencies ?? {})).toEqual(['ioredis']);
  });

  it.each([
    ['ESM', 'consumer.mjs', 'index.js'],
    ['CommonJS', 'consumer.cjs', 'index.cjs'],
  ])('%s consumer loads its build and enforces tokens under real node', async (_, file, build) => {
    const result = await runProcess(process.execPath, [file], { cwd: consumer, timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(expectedOutput(build));
    expect(result.code).toBe(0);
  });

  it.each([
    ['ESM', 'consumer-nest.mjs'],
    ['CommonJS', 'consumer-nest.cjs'],
  ])('%s consumer runs the packed Nest adapter on Nest 11', async (_, file) => {
    const result = await runProcess(process.execPath, [file], { cwd: nest11, timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      'nest major: 11\nnest: with token 200 user-1\nnest: without token 401 Bearer\n',
    );
    expect(result.code).toBe(0);
  });

  it.each(PUBLISHED)(
    '@tokenwarden/%s has types right in every resolution mode (attw)',
    async (pkg) => {
      const { tarball } = packedOf(`@tokenwarden/${pkg}`);
      const attw = join(tools, 'node_modules', '.bin', 'attw');
      const result = await runProcess(
        attw,
        ['--format', 'ascii', '--no-color', '--no-emoji', tarball],
        { cwd: tools },
      );
      expect(`${result.stdout}${result.stderr}`).toContain('No problems found');
      expect(result.code).toBe(0);
    },
  );
});
