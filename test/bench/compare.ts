/**
 * The same configurations from two checkouts, side by side in one run:
 * `pnpm exec tsx test/bench/compare.ts <before-tree> '<row>' …` (row names as in run.ts).
 *
 * For measuring a change: export the tree before it (e.g. `git archive <commit> | tar -x -C
 * /tmp/before`, with node_modules linked to this checkout's), then compare. Each named row runs
 * from both trees (`before` and `after`, the latter this checkout), in alternating rounds, next
 * to its bare baseline (from this checkout); prints the median req/s, server CPU µs per request
 * and ratio to the baseline of each.
 *
 * Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNECTIONS (50), REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import {
  coldMinter,
  deleteRunKeys,
  generateKeys,
  load,
  pinSelf,
  root,
  serverConfigs,
  serverKeys,
  startServer,
  stopServer,
  tokenPool,
  type Sample,
  type Started,
  type TokenSource,
} from './harness';
import type { BenchAlgorithm, ServerConfig } from './shared';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

interface Contender {
  readonly label: string;
  readonly config: ServerConfig;
  readonly tree: string;
  readonly tokens: 'none' | 'pool' | 'cold';
  readonly baseline: string;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  if (pinSelf()) return;
  const pinned = process.env.BENCH_PINNED === '1';
  const [beforeTree, ...names] = process.argv.slice(2);
  if (beforeTree === undefined || names.length === 0) {
    throw new Error("usage: compare.ts <before-tree> '<row>' …");
  }
  const keys = generateKeys();
  const prefix = `bench-compare-${randomBytes(4).toString('hex')}:`;
  const configs = serverConfigs(prefix, true);
  const contenders: Contender[] = [];
  const baselines = new Set<string>();
  for (const raw of names) {
    const cold = raw.endsWith(' cold');
    const name = cold ? raw.slice(0, -' cold'.length) : raw;
    const config = configs[name];
    if (config === undefined) throw new Error(`no configuration '${name}'`);
    const baseline = config.framework;
    baselines.add(baseline);
    const tokens = config.kind === 'bare' ? 'none' : cold ? 'cold' : 'pool';
    contenders.push({
      label: `${raw} before`,
      config,
      tree: resolve(beforeTree),
      tokens,
      baseline,
    });
    contenders.push({ label: `${raw} after`, config, tree: root, tokens, baseline });
  }
  const all: Contender[] = [
    ...[...baselines].map((b) => ({
      label: b,
      config: configs[b]!,
      tree: root,
      tokens: 'none' as const,
      baseline: b,
    })),
    ...contenders,
  ];
  const pools = new Map<BenchAlgorithm, string[]>();
  const source = (c: Contender): TokenSource => {
    if (c.tokens === 'none') return { kind: 'none' };
    if (c.tokens === 'cold') return { kind: 'cold', next: coldMinter(keys.hs256) };
    const alg = c.config.alg ?? 'HS256';
    if (!pools.has(alg)) pools.set(alg, tokenPool(keys, alg));
    return { kind: 'pool', pool: pools.get(alg)! };
  };
  console.log(
    `compare: ${ROUNDS} rounds × ${SECONDS} s, ${pinned ? 'servers on CPU 0, load on CPU 1' : 'not pinned'}; before = ${resolve(beforeTree)}`,
  );
  const servers = new Map<string, Started>();
  const samples = new Map<string, Sample[]>(all.map((c) => [c.label, []]));
  try {
    for (const c of all) {
      servers.set(c.label, await startServer(c.config, serverKeys(keys), pinned, [], c.tree));
    }
    for (const c of all) await load(servers.get(c.label)!, source(c), 2);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of all) {
        const s = await load(servers.get(c.label)!, source(c), SECONDS);
        samples.get(c.label)!.push(s);
        console.log(
          `round ${round} ${c.label.padEnd(34)} ${s.rps.toFixed(0).padStart(6)} req/s  ` +
            `CPU ${s.cpuPerRequest.toFixed(0).padStart(4)} µs/req (GC ${s.gcPerRequest.toFixed(0)})` +
            (s.non2xx || s.errors ? `  non-2xx ${s.non2xx} errors ${s.errors}` : ''),
        );
      }
    }
  } finally {
    await Promise.all([...servers.values()].map(stopServer));
    await deleteRunKeys(prefix);
  }
  console.log('\n| configuration | req/s | server CPU µs/req (GC) | × baseline |');
  console.log('|---|---:|---:|---:|');
  for (const c of all) {
    const list = samples.get(c.label)!;
    const base = samples.get(c.baseline)!;
    const ratio = median(list.map((s, i) => s.rps / base[i]!.rps));
    console.log(
      `| ${c.label} | ${median(list.map((s) => s.rps)).toFixed(0)} | ` +
        `${median(list.map((s) => s.cpuPerRequest)).toFixed(0)} (${median(list.map((s) => s.gcPerRequest)).toFixed(0)}) | ` +
        `${ratio.toFixed(2)} (${c.baseline}) |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
