/**
 * The README's quick starts, as a user meets them: the packed tarballs (each with its LICENSE,
 * README and metadata) are installed into fresh folders with npm and with pnpm, the Express, Koa
 * and Nest quick starts (the code blocks marked `<!-- quick-start:NAME -->`) are compiled there
 * with `tsc --strict` and run, and a refused token gets a problem answer whose `detail` says why.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sign } from 'jsonwebtoken';
import { freePort, runProcess } from '@tokenwarden/testing';

const ROOT = resolve(__dirname, '../..');
const PACKAGES = ['core', 'express', 'koa', 'nest', 'redis', 'cli'] as const;
const QUICK_STARTS = ['express', 'koa', 'nest'] as const;
/** What the quick starts and the consumer need besides the tarballs. */
const THIRD_PARTY = [
  'express@^5.3.0',
  '@types/express@^5.0.6',
  'koa@^3.3.0',
  '@types/koa@^3.0.3',
  '@koa/router@^15.7.0',
  '@nestjs/common@^12.5.1',
  '@nestjs/core@^12.5.1',
  '@nestjs/platform-express@^12.5.1',
  'reflect-metadata@^0.2.2',
  'rxjs@^7.8.2',
  'prom-client@^15.1.3',
  'ioredis@^6.0.0',
  'typescript@5.9.3',
  '@types/node@^20.19.0',
];
const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    esModuleInterop: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: 'out',
  },
  include: ['*.ts'],
};
/** What is appended to each quick start to serve it on `$PORT`. */
const HARNESS: Readonly<Record<(typeof QUICK_STARTS)[number], string>> = {
  express: 'app.listen(Number(process.env.PORT), () => console.log("listening"));',
  koa: 'app.listen(Number(process.env.PORT), () => console.log("listening"));',
  nest: [
    "import { NestFactory } from '@nestjs/core';",
    'void NestFactory.create(AppModule, { logger: false })',
    '  .then((app) => app.listen(Number(process.env.PORT)))',
    '  .then(() => console.log("listening"));',
  ].join('\n'),
};

async function runOk(command: string, args: readonly string[], cwd: string): Promise<string> {
  const result = await runProcess(command, args, { cwd, timeoutMs: 300_000 });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${String(result.code)} in ${cwd}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

interface Manifest {
  readonly name: string;
  readonly license?: string;
  readonly repository?: { readonly url?: string };
  readonly homepage?: string;
  readonly files?: readonly string[];
  readonly dependencies?: Readonly<Record<string, string>>;
}

/** The `ts` blocks of the README marked `<!-- quick-start:NAME … -->`, by name. */
function quickStarts(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- quick-start:(\w+)[^>]*-->\n```ts\n([\s\S]*?)\n```/g)) {
    blocks.set(match[1]!, match[2]!);
  }
  return blocks;
}

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** A token the quick starts accept (`customers:read`), or one refused for the given reason. */
function token(kind: 'valid' | 'expired' | 'wrong-audience'): string {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    {
      sub: 'user-1',
      scope: 'customers:read',
      jti: randomUUID(),
      iat: kind === 'expired' ? now - 7200 : now - 5,
      exp: kind === 'expired' ? now - 3600 : now + 300,
    },
    keys.privateKey,
    {
      algorithm: 'RS256',
      keyid: 'idp-2026-11',
      issuer: 'https://idp.example.com/',
      audience: kind === 'wrong-audience' ? 'another-api' : 'customers-api',
    },
  );
}

let work = '';
const tarballs: string[] = [];
const manifests = new Map<string, Manifest>();
const packedFiles = new Map<string, string[]>();
let blocks = new Map<string, string>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tokenwarden-quickstarts-'));
  const dest = join(work, 'tarballs');
  await mkdir(dest);
  for (const pkg of PACKAGES) {
    const out = await runOk(
      'pnpm',
      ['pack', '--json', '--pack-destination', dest],
      join(ROOT, 'packages', pkg),
    );
    const summary = JSON.parse(out) as { filename: string; files: { path: string }[] };
    tarballs.push(summary.filename);
    const manifest = JSON.parse(
      await runOk('tar', ['-xzOf', summary.filename, 'package/package.json'], dest),
    ) as Manifest;
    manifests.set(pkg, manifest);
    packedFiles.set(
      pkg,
      summary.files.map((f) => f.path),
    );
  }
  blocks = quickStarts(await readFile(join(ROOT, 'README.md'), 'utf8'));
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('every published package', () => {
  it.each(PACKAGES)('@tokenwarden/%s ships a LICENSE, a README and its metadata', (pkg) => {
    const files = packedFiles.get(pkg)!;
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
    const manifest = manifests.get(pkg)!;
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.repository?.url).toMatch(/^git\+https:\/\//);
    expect(manifest.homepage).toMatch(/^https:\/\//);
    // Caret ranges, not exact pins, for what it depends on at run time.
    for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
      expect(`${name}@${range}`).toMatch(/@\^\d/);
    }
  });

  it('ships the Apache-2.0 text as its LICENSE', async () => {
    const license = await readFile(join(ROOT, 'packages', 'cli', 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
  });
});

describe.each(['npm', 'pnpm'] as const)('the README quick starts, installed with %s', (tool) => {
  let dir = '';

  beforeAll(async () => {
    dir = join(work, tool);
    await mkdir(dir);
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: `quickstart-${tool}`, version: '0.0.0', private: true }),
    );
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const wanted = [...tarballs, ...THIRD_PARTY];
    if (tool === 'npm') {
      await runOk('npm', ['install', '--no-audit', '--no-fund', ...wanted], dir);
    } else {
      // The packages depend on each other by version; pnpm takes them from the tarballs too.
      const overrides = PACKAGES.map(
        (pkg, i) => `  '${manifests.get(pkg)!.name}': 'file:${tarballs[i]!}'`,
      );
      await writeFile(
        join(dir, 'pnpm-workspace.yaml'),
        ['overrides:', ...overrides, ''].join('\n'),
      );
      await runOk('pnpm', ['add', '--config.strict-dep-builds=false', ...wanted], dir);
    }
    for (const name of QUICK_STARTS) {
      const block = blocks.get(name);
      if (block === undefined) throw new Error(`README.md has no quick-start:${name} block`);
      await writeFile(join(dir, `${name}.ts`), `${block}\n\n${HARNESS[name]}\n`);
    }
  }, 600_000);

  it('compiles the Express, Koa and Nest quick starts with tsc --strict', async () => {
    const tsc = await runProcess(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.code).toBe(0);
  }, 150_000);

  it('installs the tokenwarden command, which prints its version', async () => {
    const run = await runProcess(join(dir, 'node_modules', '.bin', 'tokenwarden'), ['--version'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(run).toMatchObject({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it.each(QUICK_STARTS)(
    'the %s quick start accepts a valid token and refuses others with a detail',
    async (name) => {
      const port = await freePort();
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [join('out', `${name}.js`)], {
        cwd: dir,
        env: { ...process.env, PORT: String(port), IDP_PUBLIC_KEY: PUBLIC_PEM },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      try {
        await new Promise<void>((ready, fail) => {
          const timer = setTimeout(
            () => fail(new Error(`${name} did not start: ${stderr}`)),
            20_000,
          );
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
            if (chunk.includes('listening')) {
              clearTimeout(timer);
              ready();
            }
          });
          child.on('exit', (code) => fail(new Error(`${name} exited ${String(code)}: ${stderr}`)));
        });
        const get = (bearer?: string) =>
          fetch(`http://127.0.0.1:${port}/customers/user-1`, {
            headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
          });

        const ok = await get(token('valid'));
        expect(ok.status).toBe(200);

        for (const [kind, detail] of [
          ['expired', /\bexp\b/],
          ['wrong-audience', /\baud\b/],
        ] as const) {
          const refused = await get(token(kind));
          expect(refused.status).toBe(401);
          expect(refused.headers.get('content-type')).toMatch(/json/);
          const body = (await refused.json()) as { detail?: unknown };
          expect(typeof body.detail).toBe('string');
          expect(body.detail).toMatch(detail);
        }

        const missing = await get();
        expect(missing.status).toBe(401);
        expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      } finally {
        child.kill();
      }
    },
    60_000,
  );
});
