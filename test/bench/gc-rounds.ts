/**
 * One server under load in rounds, with pauses between them as `pnpm bench` has, reporting req/s,
 * server CPU and GC pause per request, and the audit trail's queue and sink writes after each
 * round: `pnpm exec tsx test/bench/gc-rounds.ts '<row>'` (row names as in run.ts; default
 * `koa tw full HS256`).
 *
 * For the GC regimes of a full server (see the README's Performance section): with
 * GC_NODE_ARGS='--trace-gc-nvp' the server prints every collection's phases, survival and
 * promotion.
 *
 * Environment: GC_ROUNDS (4), GC_SECONDS (5), GC_PAUSE_MS (10000: idle time before each round),
 * GC_NODE_ARGS (node flags for the server), BENCH_CONNECTIONS (50), REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import {
  ask,
  deleteRunKeys,
  generateKeys,
  load,
  pinSelf,
  serverConfigs,
  serverKeys,
  startServer,
  stopServer,
  tokenPool,
  usage,
} from './harness';

const ROUNDS = Number(process.env.GC_ROUNDS ?? 4);
const SECONDS = Number(process.env.GC_SECONDS ?? 5);
const PAUSE_MS = Number(process.env.GC_PAUSE_MS ?? 10_000);

async function main(): Promise<void> {
  if (pinSelf()) return;
  const name = process.argv[2] ?? 'koa tw full HS256';
  const keys = generateKeys();
  const prefix = `bench-gc-${randomBytes(4).toString('hex')}:`;
  const config = serverConfigs(prefix, true)[name];
  if (config === undefined) throw new Error(`no configuration '${name}'`);
  const nodeArgs = (process.env.GC_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const server = await startServer(
    config,
    serverKeys(keys),
    process.env.BENCH_PINNED === '1',
    nodeArgs,
  );
  const tokens = { kind: 'pool' as const, pool: tokenPool(keys, config.alg ?? 'HS256') };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      const before = await usage(server);
      const sample = await load(server, tokens, SECONDS);
      const after = await usage(server);
      const requests = sample.rps * SECONDS;
      const metrics = (await ask(server, { cmd: 'metrics' })).metrics ?? '';
      const audit = metrics
        .split('\n')
        .filter((line) =>
          /^tokenwarden_audit_(queue_depth|sink_write_duration_seconds_(sum|count))/.test(line),
        )
        .map((line) => line.replace(/^tokenwarden_audit_/, ''))
        .join(', ');
      console.log(
        `round ${round}: ${Math.round(sample.rps)} req/s, CPU ${((after.cpuMicros - before.cpuMicros) / requests).toFixed(0)} µs/req, ` +
          `GC ${(((after.gcMs - before.gcMs) * 1000) / requests).toFixed(1)} µs/req (${after.gcCount - before.gcCount} collections); ${audit}`,
      );
    }
  } finally {
    await stopServer(server);
    await deleteRunKeys(prefix);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
