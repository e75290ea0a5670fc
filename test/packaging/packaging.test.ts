/**
 * Checks the packed artifacts, not the sources: `pnpm pack` each published package, install the
 * tarballs and their peers with npm into a plain Node project outside the repository, then run
 * an ESM and a CommonJS consumer under real `node`. Jest resolves `@tokenwarden/*` to the sources and lets
 * named imports from CommonJS pass, so only this catches a broken `exports` map, a bundled
 * dependency or `import { sign } from 'jsonwebtoken'` in the ESM build. It also proves that the
 * request path stays light: `@tokenwarden/express` loads neither zod nor yaml, which only
 * `@tokenwarden/core/policy` needs.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProcess } from '@tokenwarden/testing';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = join(__dirname, 'fixtures');
const PUBLISHED = ['core', 'express', 'koa', 'nest', 'redis'] as const;
const BUILD_OUTPUTS = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'];
/** Core's entry points besides the main one. */
const CORE_SUBPATHS = ['policy', 'reports'] as const;
/** Code and declarations shared by several entries of one build. */
const SHARED_CHUNK = /^dist\/(chunk-[A-Z0-9]+\.c?js|[\w-]+-[\w-]{8}\.d\.c?ts)$/;
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
  readonly exports?: unknown;
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

/** The files of the package that its `exports` map points at (`dist/index.js`, …). */
function exportedFiles(manifest: Manifest): string[] {
  const out = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string' && value.startsWith('./dist/')) out.add(value.slice(2));
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(manifest.exports);
  return [...out].sort();
}

/** How long `require(name)` takes in the consumer, how many modules it loads, which of zod/yaml. */
async function loadCost(name: string): Promise<{ ms: number; modules: number; offline: string[] }> {
  const result = await runProcess(process.execPath, ['load-cost.cjs', name], {
    cwd: consumer,
    timeoutMs: 20_000,
  });
  if (result.code !== 0) throw new Error(`require('${name}') failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as { ms: number; modules: number; offline: string[] };
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
  for (const file of [
    'scenario.cjs',
    'consumer.mjs',
    'consumer.cjs',
    'subpaths-scenario.cjs',
    'subpaths.mjs',
    'subpaths.cjs',
    'load-cost.cjs',
    'offline-guard.mjs',
    'offline-hooks.mjs',
  ]) {
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
    const dist = files.filter((file) => file.startsWith('dist/'));
    const exported = exportedFiles(manifest);
    expect(exported).toEqual(expect.arrayContaining(BUILD_OUTPUTS.map((file) => `dist/${file}`)));
    expect(dist).toEqual(expect.arrayContaining(exported));
    // Anything else in dist/ is a chunk the entries share.
    expect(dist.filter((file) => !exported.includes(file) && !SHARED_CHUNK.test(file))).toEqual([]);
    expect(files).toContain('package.json');
    for (const file of files) expect(file).toMatch(/^(dist\/|package\.json$|README\.md$|LICENSE)/);
    for (const [name, range] of ranges(manifest)) {
      expect(`${name}@${range}`).not.toMatch(/@(workspace|catalog):/);
    }
  });

  it('@tokenwarden/core exports its offline entries from the same build', () => {
    const { files, manifest } = packedOf('@tokenwarden/core');
    const exported = exportedFiles(manifest);
    for (const subpath of CORE_SUBPATHS) {
      for (const file of ['js', 'cjs', 'd.ts', 'd.cts'].map((ext) => `dist/${subpath}.${ext}`)) {
        expect(exported).toContain(file);
      }
    }
    // The entries share their common code (the error classes among it) through chunks, in
    // CommonJS as in ESM.
    expect(files.filter((file) => /^dist\/chunk-.*\.js$/.test(file)).length).toBeGreaterThan(0);
    expect(files.filter((file) => /^dist\/chunk-.*\.cjs$/.test(file)).length).toBeGreaterThan(0);
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
    ['ESM', 'subpaths.mjs', 'js'],
    ['CommonJS', 'subpaths.cjs', 'cjs'],
  ])(
    '%s consumer uses @tokenwarden/core/policy and /reports under real node',
    async (_, file, ext) => {
      const result = await runProcess(process.execPath, [file], {
        cwd: consumer,
        timeoutMs: 20_000,
      });
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(
        [
          `entry: @tokenwarden/core -> dist/index.${ext}`,
          `entry: @tokenwarden/core/policy -> dist/policy.${ext}`,
          `entry: @tokenwarden/core/reports -> dist/reports.${ext}`,
          'policy: checkPolicy valid, 1 warning(s)',
          "policy: durationMs('15m') = 900000",
          'policy: a missing file throws ConfigError (config_invalid), instanceof core ConfigError true',
          'reports: exposure of tok-1: 2 uses, 1 allowed, reaches purchase_history',
          'reports: csv header time,outcome,reason,method,route,status,tokenId,client,subject,dataSubject,purpose,lawfulBasis,clientAddress,userAgent,requestId,afterLeak',
          'reports: a missing trail throws AuditSourceError (audit_source_invalid), instanceof core TokenwardenError true',
          '',
        ].join('\n'),
      );
      expect(result.code).toBe(0);
    },
  );

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
    '@tokenwarden/%s has types right in every resolution mode and entry point (attw)',
    async (pkg) => {
      const { tarball } = packedOf(`@tokenwarden/${pkg}`);
      const attw = join(tools, 'node_modules', '.bin', 'attw');
      const result = await runProcess(
        attw,
        ['--format', 'ascii', '--no-color', '--no-emoji', tarball],
        { cwd: tools },
      );
      expect(`${result.stdout}${result.stderr}`).toContain('No problems found');
      // attw checks every subpath of the exports map, node10 resolution included.
      const subpaths = pkg === 'core' ? CORE_SUBPATHS.map((s) => `/${s}`) : [];
      for (const subpath of subpaths) {
        expect(result.stdout).toContain(`"@tokenwarden/core${subpath}"\n\nnode10: OK`);
      }
      expect(result.code).toBe(0);
    },
  );
});

describe('the request path of the packed packages', () => {
  it("require('@tokenwarden/express') loads neither zod nor yaml", async () => {
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await loadCost('@tokenwarden/express'));
    for (const run of runs) expect(run.offline).toEqual([]);
    const ms = runs.map((run) => run.ms).sort((a, b) => a - b);
    console.log(
      `require('@tokenwarden/express'): median ${ms[2]!.toFixed(1)} ms over 5 runs ` +
        `(${ms[0]!.toFixed(1)}-${ms[4]!.toFixed(1)}), ${runs[0]!.modules} modules`,
    );
  });

  it('sees zod and yaml when the policy entry loads them', async () => {
    expect((await loadCost('@tokenwarden/core/policy')).offline).toEqual(['yaml', 'zod']);
  });

  it("import('@tokenwarden/express') loads neither zod nor yaml", async () => {
    // offline-guard.mjs makes resolving zod or yaml through `import` throw.
    const result = await runProcess(
      process.execPath,
      [
        '--import',
        './offline-guard.mjs',
        '--input-type=module',
        '-e',
        "await import('@tokenwarden/express'); await import('@tokenwarden/core');",
      ],
      { cwd: consumer, timeoutMs: 20_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses zod and yaml under the import guard when the policy entry needs them', async () => {
    const result = await runProcess(
      process.execPath,
      [
        '--import',
        './offline-guard.mjs',
        '--input-type=module',
        '-e',
        "await import('@tokenwarden/core/policy');",
      ],
      { cwd: consumer, timeoutMs: 20_000 },
    );
    expect(result.stderr).toMatch(/offline dependency loaded: (zod|yaml)/);
    expect(result.code).not.toBe(0);
  });
});
