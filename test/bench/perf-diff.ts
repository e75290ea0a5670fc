/**
 * Where the extra server CPU of a configuration goes, next to its bare baseline, from Linux
 * `perf` samples of the whole server process (JIT code, V8 runtime and builtins, garbage
 * collection on every thread, libc and the kernel), in µs per request:
 * `pnpm exec tsx test/bench/perf-diff.ts <baseline> '<row>' …` (row names as in run.ts, e.g.
 * `koa 'koa tw full HS256'`).
 *
 * Unlike test/bench/profile.ts (V8's own profiler, JavaScript only, and slow enough to change the
 * picture) this sees what a request costs outside JavaScript too: the V8 runtime's property
 * look-ups on megamorphic sites, GC threads, and the kernel's work in `writev`, where waking the
 * load generator when it was idle is charged to the server.
 *
 * Each server runs pinned to CPU 0 with `--perf-basic-prof` (JIT symbols in /tmp/perf-<pid>.map,
 * removed afterwards), is warmed up, then sampled at 1999 Hz for PERF_SECONDS under autocannon
 * load. Prints µs per request by category for every row, then the symbols that grew most against
 * the baseline. Needs `perf` with permission to sample the server (perf_event_paranoid ≤ 2 for a
 * process of the same user). Environment: PERF_SECONDS (8), PERF_TOP (30), PERF_TOKENS (`cold`:
 * a never-seen HS256 token per request; default the pool), BENCH_CONNECTIONS (50).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  type TokenSource,
} from './harness';

const SECONDS = Number(process.env.PERF_SECONDS ?? 8);
const TOP = Number(process.env.PERF_TOP ?? 30);

/** µs per request by symbol. */
type Symbols = Map<string, number>;

/** Categories, in the order they are printed; the first matching rule wins. */
const CATEGORIES: readonly (readonly [string, (symbol: string, kernel: boolean) => boolean])[] = [
  ['kernel', (_s, kernel) => kernel],
  ['JS (JIT)', (s) => s.startsWith('JS:')],
  ['regexp', (s) => s.startsWith('RegExp:')],
  ['GC', (s) => /Scaveng|Mark|Sweep|Heap::|GC|FreeList|Evacuat|Compact|RecordWrite/.test(s)],
  ['V8 builtins', (s) => s.startsWith('Builtins_')],
  ['V8 runtime', (s) => s.startsWith('v8::')],
  ['node, libuv, llhttp', (s) => /^(node::|uv_|uv__|llhttp)/.test(s)],
  ['libc, crypto', (s) => /malloc|free|mem|^__|^_int|sha|aes|EVP|OPENSSL/.test(s)],
  ['other', () => true],
];

function categoryOf(symbol: string): string {
  const kernel = symbol.startsWith('[k] ');
  const name = symbol.slice(4);
  for (const [category, matches] of CATEGORIES) if (matches(name, kernel)) return category;
  return 'other';
}

/** Samples of `data` as µs per request, by symbol (`[k] ` kernel, `[.] ` user). */
function symbolsOf(data: string, requests: number): Symbols {
  const report = execFileSync(
    'perf',
    ['report', '-i', data, '--no-children', '--sort', 'sym', '-g', 'none', '-q', '--stdio'].concat([
      '-F',
      'period,sym',
    ]),
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const out: Symbols = new Map();
  for (const line of report.split('\n')) {
    const match = /^\s*(\d+)\s+(\[[k.]\] .*)$/.exec(line);
    if (!match) continue;
    // cpu-clock periods are nanoseconds.
    const symbol = match[2]!.trimEnd();
    out.set(symbol, (out.get(symbol) ?? 0) + Number(match[1]) / 1000 / requests);
  }
  return out;
}

function byCategory(symbols: Symbols): Map<string, number> {
  const out = new Map<string, number>(CATEGORIES.map(([name]) => [name, 0]));
  for (const [symbol, us] of symbols) {
    const category = categoryOf(symbol);
    out.set(category, out.get(category)! + us);
  }
  return out;
}

async function main(): Promise<void> {
  if (pinSelf()) return;
  const pinned = process.env.BENCH_PINNED === '1';
  const names = process.argv.slice(2);
  if (names.length < 2)
    throw new Error("name a baseline and one or more rows, e.g. koa 'koa tw full HS256'");
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
  const keys = generateKeys();
  const prefix = `bench-perf-${randomBytes(4).toString('hex')}:`;
  const configs = serverConfigs(prefix, true);
  const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-perf-'));
  const results: { name: string; rps: number; symbols: Symbols }[] = [];
  try {
    for (const name of names) {
      const config = configs[name];
      if (config === undefined) throw new Error(`no configuration '${name}'`);
      const tokens: TokenSource =
        config.kind === 'bare'
          ? { kind: 'none' }
          : process.env.PERF_TOKENS === 'cold'
            ? { kind: 'cold', next: coldMinter(keys.hs256) }
            : { kind: 'pool', pool: tokenPool(keys, config.alg ?? 'HS256') };
      const server = await startServer(config, serverKeys(keys), pinned, [
        '--perf-basic-prof',
        '--logfile=/dev/null',
        '--no-logfile-per-isolate',
      ]);
      const pid = server.child.pid!;
      const data = join(dir, `${results.length}.data`);
      try {
        await load(server, tokens, 3);
        const perf = spawn('perf', ['record', '-F', '1999', '-o', data, '-p', String(pid)], {
          stdio: 'ignore',
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const sample = await load(server, tokens, SECONDS);
        perf.kill('SIGINT');
        await new Promise((resolve) => perf.once('close', resolve));
        const requests = sample.rps * SECONDS;
        results.push({ name, rps: sample.rps, symbols: symbolsOf(data, requests) });
      } finally {
        await stopServer(server);
        rmSync(`/tmp/perf-${pid}.map`, { force: true });
        // --perf-basic-prof also turns on V8's log, one file per isolate in the working directory.
        for (const file of readdirSync(root)) {
          if (file.startsWith('isolate-') && file.endsWith(`-${pid}-v8.log`)) {
            rmSync(join(root, file), { force: true });
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await deleteRunKeys(prefix);
  }

  const header = ['category', ...results.map((r) => r.name)];
  const rows = CATEGORIES.map(([category]) => [
    category,
    ...results.map((r) => byCategory(r.symbols).get(category)!.toFixed(1)),
  ]);
  const totals = results.map((r) => [...r.symbols.values()].reduce((a, b) => a + b, 0));
  console.log(`\nserver CPU in µs per request (perf, ${SECONDS} s per row)\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|---|${results.map(() => '---:').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`| **total** | ${totals.map((t) => t.toFixed(1)).join(' | ')} |`);
  console.log(`| req/s | ${results.map((r) => Math.round(r.rps)).join(' | ')} |`);

  const [baseline, ...rest] = results;
  for (const row of rest) {
    const grown = [...new Set([...baseline!.symbols.keys(), ...row.symbols.keys()])]
      .map((symbol) => {
        const before = baseline!.symbols.get(symbol) ?? 0;
        const after = row.symbols.get(symbol) ?? 0;
        return { symbol, before, after, delta: after - before };
      })
      .sort((a, b) => b.delta - a.delta)
      .slice(0, TOP);
    console.log(`\n${row.name}: symbols that grew most over ${baseline!.name} (µs/req)\n`);
    for (const g of grown) {
      console.log(
        `${g.delta.toFixed(2).padStart(7)} ${g.before.toFixed(2).padStart(7)} → ${g.after
          .toFixed(2)
          .padEnd(7)} ${g.symbol.slice(0, 120)}`,
      );
    }
  }
}

void main();
