/**
 * `pnpm bench`: bare Express, express-jwt and Tokenwarden (and Koa, Nest) side by side, in
 * alternating rounds of the same run, so the ratios compare like with like.
 *
 * Each configuration runs in its own server process pinned to CPU 0; this runner and autocannon
 * are pinned to CPU 1 (with `taskset`, when present). Tokens come from a pool of 1000 per
 * algorithm, or, for the cold-path rows, a never-seen token on every request. Prints a table of
 * req/s, p50/p99 latency and ratios, and writes the JSON to test/bench/results/latest.json.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_ONLY (comma
 * separated row names), REDIS_URL (redis://127.0.0.1:6379).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import type { JwtAlgorithm } from '@tokenwarden/core';
import * as redisPackage from '@tokenwarden/redis';
import { BENCH_AUDIENCE, BENCH_ISSUER, SCOPE, type BenchKeys, type ServerConfig } from './shared';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POOL = 1000;
const SUBJECTS = 1000;

/** One row of the table: a server, the tokens it gets, and the row it is compared with. */
interface Row {
  readonly name: string;
  readonly server: string;
  readonly tokens: 'none' | 'pool' | 'cold';
  readonly alg?: JwtAlgorithm;
  readonly baseline: string;
  /** The express-jwt row with the same algorithm, for the "× express-jwt" column. */
  readonly versus?: string;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return cpus().length > 1;
  } catch {
    return false;
  }
}

/** Re-runs this script pinned to CPU 1, so the servers own CPU 0. */
function pinSelf(): boolean {
  if (process.env.BENCH_PINNED === '1' || !hasTaskset()) return false;
  const child = spawn(
    'taskset',
    ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } },
  );
  child.on('exit', (code) => process.exit(code ?? 1));
  return true;
}

function generateKeys(): BenchKeys & { rs256Private: string; es256Private: string } {
  const rs = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const es = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    hs256: randomBytes(32).toString('hex'),
    rs256Public: rs.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    rs256Private: rs.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    es256Public: es.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    es256Private: es.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: randomBytes(32).toString('hex'),
  };
}

const KIDS: Record<string, string> = { HS256: 'bench-hs', RS256: 'bench-rs', ES256: 'bench-es' };

function claims(i: number): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000) - 1;
  return {
    iss: BENCH_ISSUER,
    aud: BENCH_AUDIENCE,
    sub: `user-${i % SUBJECTS}`,
    client_id: 'bench-client',
    jti: randomUUID(),
    scope: SCOPE,
    iat,
    exp: iat + 3000,
  };
}

function tokenPool(keys: ReturnType<typeof generateKeys>, alg: JwtAlgorithm): string[] {
  const key =
    alg === 'HS256' ? keys.hs256 : alg === 'RS256' ? keys.rs256Private : keys.es256Private;
  return Array.from({ length: POOL }, (_, i) =>
    jwt.sign(claims(i), key, { algorithm: alg, keyid: KIDS[alg] }),
  );
}

/** A fresh HS256 token per call, signed by hand: cheap enough for the load generator. */
function coldMinter(secret: string): () => string {
  const header = Buffer.from(
    JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: KIDS.HS256 }),
  ).toString('base64url');
  let n = 0;
  return () => {
    const payload = Buffer.from(JSON.stringify(claims(n++))).toString('base64url');
    const input = `${header}.${payload}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
}

interface Started {
  readonly child: ChildProcess;
  readonly port: number;
}

function startServer(config: ServerConfig, keys: BenchKeys, pin: boolean): Promise<Started> {
  const node = [process.execPath, '--import', 'tsx', join(here, 'server.ts')];
  const [command, ...args] = pin ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(command!, args, {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      REDIS_URL,
      BENCH_CONFIG: JSON.stringify(config),
      BENCH_KEYS: JSON.stringify(keys),
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 60 s')), 60_000);
    child.once('message', (message: { port?: number }) => {
      clearTimeout(timer);
      if (typeof message.port === 'number') resolve({ child, port: message.port });
      else reject(new Error('server sent no port'));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code ?? 'a signal'}`)));
  });
}

/** What a row sends: no token, a token from the pool, or a never-seen token per request. */
type TokenSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'pool'; readonly pool: readonly string[] }
  | { readonly kind: 'cold'; readonly next: () => string };

interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

/**
 * Pooled tokens are sent as a fixed list of pre-built requests (each connection cycles through
 * it), so the load generator spends no time per request building headers; only the cold path
 * builds one per request.
 */
async function load(port: number, tokens: TokenSource, seconds: number): Promise<Sample> {
  const requests =
    tokens.kind === 'pool'
      ? tokens.pool.map((token) => ({
          method: 'GET' as const,
          path: '/hello',
          headers: { authorization: `Bearer ${token}` },
        }))
      : [
          {
            method: 'GET' as const,
            path: '/hello',
            ...(tokens.kind === 'cold'
              ? {
                  setupRequest: (req: autocannon.Request) => ({
                    ...req,
                    headers: { authorization: `Bearer ${tokens.next()}` },
                  }),
                }
              : {}),
          },
        ];
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/hello`,
    connections: CONNECTIONS,
    duration: seconds,
    requests,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  if (pinSelf()) return;
  const pinned = process.env.BENCH_PINNED === '1';
  const keys = generateKeys();
  const serverKeys: BenchKeys = {
    hs256: keys.hs256,
    rs256Public: keys.rs256Public,
    es256Public: keys.es256Public,
    fingerprint: keys.fingerprint,
  };
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  const streamSink = 'RedisStreamSink' in redisPackage;
  const base = { subjects: SUBJECTS, prefix } as const;
  const full = {
    ...base,
    kind: 'tokenwarden',
    store: 'redis',
    full: true,
    ...(streamSink ? { auditSink: 'redis-stream' as const } : {}),
  } as const;
  const servers: Record<string, ServerConfig> = {
    express: { ...base, framework: 'express', kind: 'bare' },
    'express-jwt HS256': { ...base, framework: 'express', kind: 'express-jwt', alg: 'HS256' },
    'express-jwt RS256': { ...base, framework: 'express', kind: 'express-jwt', alg: 'RS256' },
    'express-jwt ES256': { ...base, framework: 'express', kind: 'express-jwt', alg: 'ES256' },
    'tw HS256 memory': { ...base, framework: 'express', kind: 'tokenwarden', alg: 'HS256' },
    'tw RS256 memory': { ...base, framework: 'express', kind: 'tokenwarden', alg: 'RS256' },
    'tw ES256 memory': { ...base, framework: 'express', kind: 'tokenwarden', alg: 'ES256' },
    'tw HS256 redis': {
      ...base,
      framework: 'express',
      kind: 'tokenwarden',
      alg: 'HS256',
      store: 'redis',
    },
    'tw full HS256': { ...full, framework: 'express', alg: 'HS256' },
    'tw full RS256': { ...full, framework: 'express', alg: 'RS256' },
    'tw full ES256': { ...full, framework: 'express', alg: 'ES256' },
    koa: { ...base, framework: 'koa', kind: 'bare' },
    'koa-jwt HS256': { ...base, framework: 'koa', kind: 'koa-jwt', alg: 'HS256' },
    'koa tw full HS256': { ...full, framework: 'koa', alg: 'HS256' },
    nest: { ...base, framework: 'nest', kind: 'bare' },
    'nest tw full HS256': { ...full, framework: 'nest', alg: 'HS256' },
  };
  const allRows: Row[] = [
    { name: 'express', server: 'express', tokens: 'none', baseline: 'express' },
    // The same bare server sent the pooled tokens it ignores: what the header alone costs.
    {
      name: 'express + header',
      server: 'express',
      tokens: 'pool',
      alg: 'HS256',
      baseline: 'express',
    },
    ...(['HS256', 'RS256', 'ES256'] as const).map((alg): Row => ({
      name: `express-jwt ${alg}`,
      server: `express-jwt ${alg}`,
      tokens: 'pool',
      alg,
      baseline: 'express',
    })),
    ...(['HS256', 'RS256', 'ES256'] as const).map((alg): Row => ({
      name: `tw ${alg} memory`,
      server: `tw ${alg} memory`,
      tokens: 'pool',
      alg,
      baseline: 'express',
      versus: `express-jwt ${alg}`,
    })),
    {
      name: 'tw HS256 redis',
      server: 'tw HS256 redis',
      tokens: 'pool',
      alg: 'HS256',
      baseline: 'express',
      versus: 'express-jwt HS256',
    },
    ...(['HS256', 'RS256', 'ES256'] as const).map((alg): Row => ({
      name: `tw full ${alg}`,
      server: `tw full ${alg}`,
      tokens: 'pool',
      alg,
      baseline: 'express',
      versus: `express-jwt ${alg}`,
    })),
    {
      name: 'tw full HS256 cold',
      server: 'tw full HS256',
      tokens: 'cold',
      alg: 'HS256',
      baseline: 'express',
      versus: 'express-jwt HS256',
    },
    { name: 'koa', server: 'koa', tokens: 'none', baseline: 'koa' },
    {
      name: 'koa-jwt HS256',
      server: 'koa-jwt HS256',
      tokens: 'pool',
      alg: 'HS256',
      baseline: 'koa',
    },
    {
      name: 'koa tw full HS256',
      server: 'koa tw full HS256',
      tokens: 'pool',
      alg: 'HS256',
      baseline: 'koa',
      versus: 'koa-jwt HS256',
    },
    { name: 'nest', server: 'nest', tokens: 'none', baseline: 'nest' },
    {
      name: 'nest tw full HS256',
      server: 'nest tw full HS256',
      tokens: 'pool',
      alg: 'HS256',
      baseline: 'nest',
    },
  ];
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const rows = only
    ? allRows.filter(
        (r) =>
          only.includes(r.name) ||
          allRows.some((o) => only.includes(o.name) && o.baseline === r.name),
      )
    : allRows;

  const pools = new Map<JwtAlgorithm, string[]>();
  for (const alg of ['HS256', 'RS256', 'ES256'] as const) pools.set(alg, tokenPool(keys, alg));
  const tokenSource = (row: Row): TokenSource => {
    if (row.tokens === 'none') return { kind: 'none' };
    if (row.tokens === 'cold') return { kind: 'cold', next: coldMinter(keys.hs256) };
    return { kind: 'pool', pool: pools.get(row.alg!)! };
  };

  console.log(
    `tokenwarden bench: ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections, ` +
      `${pinned ? 'servers on CPU 0, load on CPU 1' : 'not pinned (no taskset)'}, audit sink: ` +
      `${streamSink ? 'Redis stream' : 'none (RedisStreamSink not available)'}`,
  );
  const needed = [...new Set(rows.map((r) => r.server))];
  const started = new Map<string, Started>();
  try {
    for (const name of needed)
      started.set(name, await startServer(servers[name]!, serverKeys, pinned));
    for (const row of rows) {
      // Warm-up: JIT, connection pools, caches.
      const sample = await load(started.get(row.server)!.port, tokenSource(row), 2);
      if (sample.non2xx > 0 || sample.errors > 0) {
        console.log(
          `warm-up ${row.name}: ${sample.non2xx} non-2xx answers, ${sample.errors} errors`,
        );
      }
    }
    const samples = new Map<string, Sample[]>(rows.map((r) => [r.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const row of rows) {
        const sample = await load(started.get(row.server)!.port, tokenSource(row), SECONDS);
        samples.get(row.name)!.push(sample);
        console.log(
          `round ${round} ${row.name.padEnd(20)} ${sample.rps.toFixed(0).padStart(7)} req/s ` +
            `p50 ${sample.p50} ms p99 ${sample.p99} ms` +
            (sample.non2xx || sample.errors
              ? `  non-2xx ${sample.non2xx} errors ${sample.errors}`
              : ''),
        );
      }
    }
    report(rows, samples, { pinned, streamSink });
  } finally {
    for (const { child } of started.values()) child.kill('SIGTERM');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (found.length > 0) await redis.del(...found);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}

function report(
  rows: readonly Row[],
  samples: ReadonlyMap<string, Sample[]>,
  context: { pinned: boolean; streamSink: boolean },
): void {
  const ratio = (name: string, other: string, pick: (s: Sample) => number): number | undefined => {
    const a = samples.get(name);
    const b = samples.get(other);
    if (!a || !b) return undefined;
    return median(a.map((s, i) => pick(s) / pick(b[i]!)));
  };
  const table = rows.map((row) => {
    const list = samples.get(row.name)!;
    return {
      name: row.name,
      rps: Math.round(median(list.map((s) => s.rps))),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      ratio: ratio(row.name, row.baseline, (s) => s.rps),
      baseline: row.baseline,
      p99Ratio: ratio(row.name, row.baseline, (s) => s.p99),
      versus: row.versus,
      versusRatio: row.versus ? ratio(row.name, row.versus, (s) => s.rps) : undefined,
      non2xx: list.reduce((n, s) => n + s.non2xx, 0),
      errors: list.reduce((n, s) => n + s.errors, 0),
    };
  });
  const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '' : n.toFixed(digits));
  const lines = [
    '| configuration | req/s | p50 ms | p99 ms | × baseline | p99 × baseline | × jwt middleware |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...table.map(
      (r) =>
        `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${fmt(r.ratio)} (${r.baseline}) | ${fmt(r.p99Ratio)} | ${
          r.versusRatio === undefined ? '' : `${fmt(r.versusRatio)} (${r.versus})`
        } |`,
    ),
  ];
  console.log('\n' + lines.join('\n'));
  const byName = new Map(table.map((r) => [r.name, r]));
  const targets: Array<[string, string, number | undefined, number]> = [
    ['tw full HS256', '× express', byName.get('tw full HS256')?.ratio, 0.9],
    ['tw full HS256', '× express-jwt HS256', byName.get('tw full HS256')?.versusRatio, 3],
    [
      'tw full HS256',
      'p99 ≤ 1.3 × express (inverse shown)',
      inverse(byName.get('tw full HS256')?.p99Ratio),
      1 / 1.3,
    ],
    ['tw full RS256', '× express', byName.get('tw full RS256')?.ratio, 0.85],
    ['tw full ES256', '× express', byName.get('tw full ES256')?.ratio, 0.85],
    ['tw full HS256 cold', '× express', byName.get('tw full HS256 cold')?.ratio, 0.75],
    ['koa tw full HS256', '× koa', byName.get('koa tw full HS256')?.ratio, 0.7],
    ['nest tw full HS256', '× nest', byName.get('nest tw full HS256')?.ratio, 0.85],
  ];
  console.log('\ntargets:');
  for (const [name, what, value, target] of targets) {
    if (value === undefined) continue;
    console.log(
      `  ${value >= target ? 'met ' : 'MISS'} ${name} ${what}: ${value.toFixed(2)} (target ≥ ${target.toFixed(2)})`,
    );
  }
  const failures = table.filter((r) => r.non2xx > 0 || r.errors > 0);
  for (const r of failures)
    console.log(`  ERROR ${r.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const resultDir = join(here, 'results');
  mkdirSync(resultDir, { recursive: true });
  const result = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      pinned: context.pinned,
    },
    command: 'pnpm bench',
    settings: { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, pool: POOL },
    auditSink: context.streamSink ? 'redis-stream' : 'none',
    rows: table,
  };
  writeFileSync(join(resultDir, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`\nresults: ${join('test', 'bench', 'results', 'latest.json')}`);
  if (failures.length > 0) process.exitCode = 1;
}

function inverse(value: number | undefined): number | undefined {
  return value === undefined ? undefined : 1 / value;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
