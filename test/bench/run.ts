/**
 * `pnpm bench`: bare Express, express-jwt and Tokenwarden (and Koa, Nest) side by side, in
 * alternating rounds of the same run, so the ratios compare like with like.
 *
 * Each configuration runs in its own server process pinned to CPU 0; this runner and autocannon
 * are pinned to CPU 1 (with `taskset`, when present). Tokens come from a pool of 1000 per
 * algorithm, or, for the cold-path rows, a never-seen token on every request. Prints a table of
 * req/s, p50/p99 latency, server CPU time per request and ratios, and writes the JSON to test/bench/results/latest.json.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_ONLY (comma
 * separated row names), REDIS_URL (redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import * as redisPackage from '@tokenwarden/redis';
import {
  coldMinter,
  CONNECTIONS,
  deleteRunKeys,
  generateKeys,
  load,
  machineInfo,
  pinSelf,
  POOL,
  serverConfigs,
  serverKeys,
  startServer,
  stopServer,
  tokenPool,
  writeResult,
  type Sample,
  type Started,
  type TokenSource,
} from './harness';
import type { BenchAlgorithm } from './shared';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

/** One row of the table: a server, the tokens it gets, and the row it is compared with. */
interface Row {
  readonly name: string;
  readonly server: string;
  readonly tokens: 'none' | 'pool' | 'cold';
  readonly alg?: BenchAlgorithm;
  readonly baseline: string;
  /** The express-jwt row with the same algorithm, for the "× express-jwt" column. */
  readonly versus?: string;
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
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  const streamSink = 'RedisStreamSink' in redisPackage;
  const servers = serverConfigs(prefix, streamSink);
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

  const pools = new Map<BenchAlgorithm, string[]>();
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
      started.set(name, await startServer(servers[name]!, serverKeys(keys), pinned));
    for (const row of rows) {
      // Warm-up: JIT, connection pools, caches.
      const sample = await load(started.get(row.server)!, tokenSource(row), 2);
      if (sample.non2xx > 0 || sample.errors > 0) {
        console.log(
          `warm-up ${row.name}: ${sample.non2xx} non-2xx answers, ${sample.errors} errors`,
        );
      }
    }
    const samples = new Map<string, Sample[]>(rows.map((r) => [r.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const row of rows) {
        const sample = await load(started.get(row.server)!, tokenSource(row), SECONDS);
        samples.get(row.name)!.push(sample);
        console.log(
          `round ${round} ${row.name.padEnd(20)} ${sample.rps.toFixed(0).padStart(7)} req/s ` +
            `p50 ${sample.p50} ms p99 ${sample.p99} ms  server CPU ${sample.cpuPerRequest.toFixed(0)} µs/req ` +
            `(GC ${sample.gcPerRequest.toFixed(0)})` +
            (sample.non2xx || sample.errors
              ? `  non-2xx ${sample.non2xx} errors ${sample.errors}`
              : ''),
        );
      }
    }
    report(rows, samples, { pinned, streamSink });
  } finally {
    await Promise.all([...started.values()].map(stopServer));
    await deleteRunKeys(prefix);
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
      cpuPerRequest: Math.round(median(list.map((s) => s.cpuPerRequest))),
      gcPerRequest: Math.round(median(list.map((s) => s.gcPerRequest))),
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
    '| configuration | req/s | p50 ms | p99 ms | server CPU µs/req (GC) | × baseline | p99 × baseline | × jwt middleware |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...table.map(
      (r) =>
        `| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuPerRequest} (${r.gcPerRequest}) | ${fmt(r.ratio)} (${r.baseline}) | ${fmt(r.p99Ratio)} | ${
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
  const result = {
    date: new Date().toISOString(),
    machine: { ...machineInfo(), pinned: context.pinned },
    command: 'pnpm bench',
    settings: { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, pool: POOL },
    auditSink: context.streamSink ? 'redis-stream' : 'none',
    rows: table,
  };
  writeResult('latest.json', result);
  if (failures.length > 0) process.exitCode = 1;
}

function inverse(value: number | undefined): number | undefined {
  return value === undefined ? undefined : 1 / value;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
