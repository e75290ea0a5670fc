/**
 * `pnpm bench`: every configuration next to its bare framework, in alternating rounds of the same
 * run, so each round's ratio compares like with like.
 *
 * Each configuration runs in its own server process pinned to CPU 0; this runner and autocannon
 * are pinned to CPU 1 (with `taskset`, when present). Tokens come from a pool of 1000 per
 * algorithm, or, for the cold-path row, a never-seen token on every request (in a server process
 * of its own, so it never evicts the warm rows' tokens). For every row and round: req/s, p99
 * latency and the server's CPU time per request, read from /proc (every thread of the server
 * process). Rows run forwards in odd rounds and backwards in even ones, each once the server of
 * the row before is idle again. Reported per row, as the
 * median and the range (min–max) over the rounds:
 *
 * - `× bare`: req/s over the bare framework's in the same round;
 * - `+CPU µs/req`: server CPU per request minus the bare framework's in the same round;
 * - `× bare from CPU`: the bare framework's CPU per request over the row's (what `× bare` must be
 *   when both servers saturate their core): the two columns agree within the noise they show,
 *   and a row where they do not is flagged;
 * - `p99 × bare`.
 *
 * Prints a markdown table (with the commit and the machine) for the README and the goals of
 * issue 21 met or missed, and writes the JSON to test/bench/results/latest.json (a partial or
 * quick run to latest-partial.json).
 *
 * Environment: BENCH_ROUNDS (7), BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_ONLY (comma
 * separated row names; their baselines and peers come along), BENCH_EXTRA=1 (also the diagnostic
 * rows: verification alone, memory store, the header alone), BENCH_QUICK=1 (a smoke run: 2
 * rounds of 2 s, 1 s warm-up), REDIS_URL (default: a redis-server of the run's own, pinned to
 * CPU 1 with the load generator; BENCH_REDIS=shared for redis://127.0.0.1:6379).
 */
import { randomBytes } from 'node:crypto';
import * as redisPackage from '@tokenwarden/redis';
import {
  coldMinter,
  commitInfo,
  CONNECTIONS,
  deleteRunKeys,
  generateKeys,
  load,
  machineInfo,
  pinSelf,
  POOL,
  procCpu,
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
import { goals, markdownTable, summarise, type Row } from './table';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 2 : 7));
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const WARMUP_SECONDS = QUICK ? 1 : 3;

const ALGS = ['HS256', 'RS256', 'ES256'] as const;

/** Every row, in the order of a round. */
const ROWS: readonly Row[] = [
  { name: 'express', server: 'express', tokens: 'none', baseline: 'express' },
  // The same bare server sent the pooled tokens it ignores: what the header alone costs.
  {
    name: 'express + header',
    server: 'express',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'express',
    extra: true,
  },
  ...ALGS.map((alg): Row => ({
    name: `express-jwt ${alg}`,
    server: `express-jwt ${alg}`,
    tokens: 'pool',
    alg,
    baseline: 'express',
  })),
  ...ALGS.map((alg): Row => ({
    name: `tw ${alg} memory`,
    server: `tw ${alg} memory`,
    tokens: 'pool',
    alg,
    baseline: 'express',
    versus: `express-jwt ${alg}`,
    extra: true,
  })),
  {
    name: 'tw HS256 redis',
    server: 'tw HS256 redis',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'express',
    versus: 'express-jwt HS256',
    extra: true,
  },
  ...ALGS.map((alg): Row => ({
    name: `tw full ${alg}`,
    server: `tw full ${alg}`,
    tokens: 'pool',
    alg,
    baseline: 'express',
    versus: `express-jwt ${alg}`,
    goal: 'warm',
  })),
  {
    name: 'tw full HS256 cold',
    server: 'tw full HS256 cold',
    tokens: 'cold',
    alg: 'HS256',
    baseline: 'express',
    versus: 'express-jwt HS256',
    goal: 'cold',
  },
  { name: 'koa', server: 'koa', tokens: 'none', baseline: 'koa' },
  { name: 'koa-jwt HS256', server: 'koa-jwt HS256', tokens: 'pool', alg: 'HS256', baseline: 'koa' },
  {
    name: 'koa tw full HS256',
    server: 'koa tw full HS256',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'koa',
    versus: 'koa-jwt HS256',
    goal: 'warm',
  },
  { name: 'nest', server: 'nest', tokens: 'none', baseline: 'nest' },
  {
    name: 'nest jwt guard HS256',
    server: 'nest jwt guard HS256',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'nest',
  },
  {
    name: 'nest tw full HS256',
    server: 'nest tw full HS256',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'nest',
    versus: 'nest jwt guard HS256',
    goal: 'warm',
  },
  { name: 'nest fastify', server: 'nest fastify', tokens: 'none', baseline: 'nest fastify' },
  {
    name: 'nest fastify jwt guard HS256',
    server: 'nest fastify jwt guard HS256',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'nest fastify',
  },
  {
    name: 'nest fastify tw full HS256',
    server: 'nest fastify tw full HS256',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'nest fastify',
    versus: 'nest fastify jwt guard HS256',
    goal: 'warm',
  },
];

/** The rows of this run: BENCH_ONLY's (with their baselines and peers), else all but extras. */
function selectRows(): Row[] {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  if (only === undefined) {
    return ROWS.filter((r) => process.env.BENCH_EXTRA === '1' || r.extra !== true);
  }
  const unknown = only.filter((name) => !ROWS.some((r) => r.name === name));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: no row named ${unknown.join(', ')}`);
  const wanted = new Set<string>();
  for (const row of ROWS) {
    if (!only.includes(row.name)) continue;
    wanted.add(row.name).add(row.baseline);
    if (row.versus !== undefined) wanted.add(row.versus);
  }
  return ROWS.filter((r) => wanted.has(r.name));
}

/**
 * Waits until the server of the row before is idle (under 2% of a core over 500 ms; at most 5 s):
 * a server that has just been under load goes on for a while with its collections and flushes,
 * on the core the next row's server runs on.
 */
async function settle(server: Started | undefined): Promise<void> {
  if (server === undefined) return;
  const until = Date.now() + 5_000;
  let last = procCpu(server.child.pid)?.cpuMicros;
  while (last !== undefined && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = procCpu(server.child.pid)?.cpuMicros;
    if (now === undefined || now - last < 10_000) return;
    last = now;
  }
}

async function main(): Promise<void> {
  if (pinSelf()) return;
  const pinned = process.env.BENCH_PINNED === '1';
  const keys = generateKeys();
  const prefix = `bench-${randomBytes(4).toString('hex')}:`;
  const streamSink = 'RedisStreamSink' in redisPackage;
  const servers = serverConfigs(prefix, streamSink);
  const rows = selectRows();

  const pools = new Map<BenchAlgorithm, string[]>();
  for (const alg of ALGS) pools.set(alg, tokenPool(keys, alg));
  const tokenSource = (row: Row): TokenSource => {
    if (row.tokens === 'none') return { kind: 'none' };
    if (row.tokens === 'cold') return { kind: 'cold', next: coldMinter(keys.hs256) };
    return { kind: 'pool', pool: pools.get(row.alg!)! };
  };

  console.log(
    `tokenwarden bench${QUICK ? ' (quick)' : ''}: ${rows.length} rows, ${ROUNDS} rounds × ${SECONDS} s, ` +
      `${CONNECTIONS} connections, ` +
      `${pinned ? 'servers on CPU 0, load on CPU 1' : 'not pinned (no taskset)'}, audit sink: ` +
      `${streamSink ? 'Redis stream' : 'none (RedisStreamSink not available)'}, Redis ${process.env.BENCH_REDIS ?? 'shared'}`,
  );
  const needed = [...new Set(rows.map((r) => r.server))];
  const started = new Map<string, Started>();
  try {
    for (const name of needed)
      started.set(name, await startServer(servers[name]!, serverKeys(keys), pinned));
    for (const row of rows) {
      // Warm-up: JIT, connection pools, caches.
      const sample = await load(started.get(row.server)!, tokenSource(row), WARMUP_SECONDS);
      if (sample.non2xx > 0 || sample.errors > 0) {
        console.log(
          `warm-up ${row.name}: ${sample.non2xx} non-2xx answers, ${sample.errors} errors`,
        );
      }
    }
    const samples = new Map<string, Sample[]>(rows.map((r) => [r.name, []]));
    let previous: Started | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      // Forwards in odd rounds, backwards in even ones: no row always runs right after the same
      // one (a row following a busy one, or the bare server, would carry that neighbour's effect
      // in every round).
      for (const row of round % 2 === 1 ? rows : [...rows].reverse()) {
        await settle(previous);
        previous = started.get(row.server);
        const sample = await load(started.get(row.server)!, tokenSource(row), SECONDS);
        samples.get(row.name)!.push(sample);
        console.log(
          `round ${round} ${row.name.padEnd(30)} ${sample.rps.toFixed(0).padStart(7)} req/s ` +
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
  const table = summarise(rows, samples);
  const machine = { ...machineInfo(), pinned: context.pinned };
  const commit = commitInfo();
  const date = new Date().toISOString();
  console.log(
    `\ncommit ${commit}, ${date.slice(0, 10)}; ${machine.model ?? 'unknown CPU'}, ${machine.cpus} cores, ` +
      `Node ${machine.node}; ${ROUNDS} alternating rounds × ${SECONDS} s, ${CONNECTIONS} connections, ` +
      `${context.pinned ? 'server pinned to CPU 0, load to CPU 1' : 'not pinned'}; median (min – max) over the rounds\n`,
  );
  console.log(markdownTable(table).join('\n'));
  const inconsistent = table.filter((r) => !r.consistent && r.name !== r.baseline);
  if (inconsistent.length > 0) {
    console.log(
      `\n⚠ × bare and × bare from CPU disagree beyond their ranges (a server not saturating its ` +
        `core, or load on the machine): ${inconsistent.map((r) => r.name).join(', ')}`,
    );
  }
  console.log('\ngoals (issue 21, judged on the medians):');
  for (const line of goals(rows, table)) console.log(line);
  const failures = table.filter((r) => r.non2xx > 0 || r.errors > 0);
  for (const r of failures)
    console.log(`  ERROR ${r.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const complete = process.env.BENCH_ONLY === undefined && !QUICK;
  writeResult(complete ? 'latest.json' : 'latest-partial.json', {
    date,
    commit,
    machine,
    command: 'pnpm bench',
    settings: {
      rounds: ROUNDS,
      seconds: SECONDS,
      connections: CONNECTIONS,
      pool: POOL,
      quick: QUICK,
    },
    auditSink: context.streamSink ? 'redis-stream' : 'none',
    redis: process.env.BENCH_REDIS ?? 'shared',
    rows: table,
    rounds: Object.fromEntries(samples),
  });
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
