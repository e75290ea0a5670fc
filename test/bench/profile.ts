/**
 * Where a benchmark server spends its CPU: `pnpm exec tsx test/bench/profile.ts '<row>' …`.
 *
 * Starts the servers of the named configurations (names as in run.ts, e.g. `'koa tw full HS256'`,
 * `express`), warms each up, then drives each with autocannon for PROFILE_SECONDS while the
 * server records a V8 CPU profile (written to PROFILE_DIR as `<row>.cpuprofile`, readable in
 * Chrome DevTools), and prints the server CPU and GC time per request and the top functions and
 * files by self time, in µs per request. `--summarise <file.cpuprofile> [requests]` only prints
 * the summary of an existing profile.
 *
 * PROFILE_KIND=heap records a sampling heap profile instead (objects still alive at the end, by
 * allocating function), PROFILE_KIND=alloc every allocation (bytes per request),
 * PROFILE_KIND=promoted the objects that outlived a young-generation GC (bytes per request).
 *
 * PROFILE_SNAPSHOT=<file> also writes a heap snapshot halfway through the load.
 *
 * Environment: PROFILE_SECONDS (10), PROFILE_TOKENS (pool | cold | none; default pool, none for
 * bare servers), PROFILE_DIR (/tmp/tokenwarden-profiles), PROFILE_TOP (25), BENCH_CONNECTIONS (50).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  ask,
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
import type { BenchAlgorithm } from './shared';

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10);
const DIR = process.env.PROFILE_DIR ?? '/tmp/tokenwarden-profiles';
const TOP = Number(process.env.PROFILE_TOP ?? 25);
/**
 * `cpu`; `heap`: objects alive at the end, by allocation site; `alloc`: every allocation;
 * `promoted`: objects that outlived a scavenge (the expensive kind of garbage).
 */
const KIND = process.env.PROFILE_KIND ?? 'cpu';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Where a function lives, shortened: a package name, a repository path or a V8 category. */
function place(url: string): string {
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
  const pnpm = path.lastIndexOf('/node_modules/');
  if (pnpm >= 0) {
    const rest = path.slice(pnpm + '/node_modules/'.length).split('/');
    const name = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    return `npm:${name}`;
  }
  if (path.startsWith(root)) return relative(root, path);
  return path;
}

/** Prints self time by function, by file, and inclusive time of the heaviest functions. */
export function summarise(profile: CpuProfile, requests: number | undefined): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + delta);
    total += delta;
  }
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const label = (f: CallFrame) =>
    `${f.functionName || '(anonymous)'} ${place(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  const selfByFunction = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, time] of self) {
    const node = byId.get(id)!;
    const f = node.callFrame;
    selfByFunction.set(label(f), (selfByFunction.get(label(f)) ?? 0) + time);
    const where = f.url === '' ? f.functionName || '(native)' : place(f.url);
    selfByPlace.set(where, (selfByPlace.get(where) ?? 0) + time);
    // Inclusive: count the sample once for every distinct function on its stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + time);
    }
  }
  const idle = selfByPlace.get('(idle)') ?? 0;
  const busy = total - idle;
  const unit = requests ? `µs/req` : 'ms';
  const scale = (us: number) => (requests ? us / requests : us / 1000);
  console.log(
    `profile: ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s` +
      (requests ? `, ${requests} requests, busy ${(busy / requests).toFixed(1)} µs/req` : ''),
  );
  const show = (title: string, map: Map<string, number>, top: number) => {
    console.log(`\n${title} (${unit}, % of busy)`);
    const rows = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [name, time] of rows) {
      console.log(
        `${scale(time).toFixed(1).padStart(8)} ${((time / busy) * 100).toFixed(1).padStart(5)}%  ${name}`,
      );
    }
  };
  show('self time by file or package', selfByPlace, TOP);
  show('self time by function', selfByFunction, TOP);
  show('inclusive time by function', inclusive, TOP * 2);
  const categories = byCategory(profile, self, parent, byId);
  console.log(`\nby category (${unit}, % of busy; see CATEGORY_RULES)`);
  for (const [name, time] of [...categories.entries()].sort((a, b) => b[1] - a[1])) {
    if (name === '(idle)') continue;
    console.log(
      `${scale(time).toFixed(1).padStart(8)} ${((time / busy) * 100).toFixed(1).padStart(5)}%  ${name}`,
    );
  }
}

/**
 * Categories of a sample, by the first frame from the leaf up that decides one: a Tokenwarden
 * file by its path, or a framework package. Node's own frames and the Redis client's are looked
 * through (a socket write made by the audit sink is the audit sink's); a stack with no deciding
 * frame is `node (http, net, timers)`, or V8's own: `(garbage collector)`, `(program)`.
 */
const CATEGORY_RULES: readonly (readonly [RegExp, string])[] = [
  [/^packages\/core\/src\/verify\//, 'verify (token cache, signature, claims)'],
  [
    /^packages\/core\/src\/audit\/(trail|chain|seal|chain-hash|line|iso-times)/,
    'audit: seal, serialise, chain',
  ],
  [/^packages\/core\/src\/audit\//, 'audit: sink lane, spool'],
  [/^packages\/redis\/src\/stream-sink/, 'audit: Redis stream sink'],
  [/^packages\/core\/src\/pipeline\/record/, 'audit: build the event (pipeline)'],
  [/^packages\/core\/src\/metrics\//, 'metrics'],
  [/^packages\/redis\/src\//, 'state (RedisStore, state cache)'],
  [/^packages\/core\/src\/(revocation|consent|store)\//, 'state (RedisStore, state cache)'],
  [/^packages\/core\/src\/(http)\//, 'adapter (core http)'],
  [/^packages\/(express|koa|nest)\/src\//, 'adapter'],
  [/^packages\/core\/src\//, 'pipeline, warden'],
  [
    /^npm:(express|router|koa|@koa\/router|koa-compose|@nestjs\/.*|fastify|find-my-way|light-my-request|avvio|body-parser|finalhandler|send|on-finished|content-type|qs|parseurl|path-to-regexp|debug|depd|vary|statuses|accepts|negotiator|type-is|mime.*|fresh|etag|cookie|proxy-addr|rxjs|reflect-metadata|iterare|@fastify\/.*|express-jwt|koa-jwt|jsonwebtoken|jws|jwa)$/,
    'framework (and peer JWT middleware)',
  ],
  [/^npm:ioredis$/, 'Redis client (replies, no caller)'],
  [/^test\/bench\//, 'bench server (route handler)'],
];

function byCategory(
  profile: CpuProfile,
  self: ReadonlyMap<number, number>,
  parent: ReadonlyMap<number, number>,
  byId: ReadonlyMap<number, ProfileNode>,
): Map<string, number> {
  const out = new Map<string, number>();
  const memo = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let result: string | undefined;
    let redisClient = false;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.url === '') {
        if (at === id && /^\((garbage collector|program|idle)\)$/.test(f.functionName)) {
          result = f.functionName;
          break;
        }
        continue;
      }
      const where = place(f.url);
      if (where === 'npm:ioredis') redisClient = true;
      const rule = CATEGORY_RULES.find(([pattern]) => pattern.test(where));
      if (rule === undefined || rule[1].startsWith('Redis client')) continue;
      result = rule[1];
      break;
    }
    result ??= redisClient ? 'Redis client (replies, no caller)' : 'node (http, net, timers)';
    memo.set(id, result);
    return result;
  };
  void profile;
  for (const [id, time] of self) {
    const category = categoryOf(id);
    out.set(category, (out.get(category) ?? 0) + time);
  }
  return out;
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** Prints bytes by allocating function (self and inclusive) of a sampling heap profile. */
export function summariseHeap(profile: { head: HeapNode }, requests: number | undefined): void {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const label = (f: CallFrame) =>
    `${f.functionName || '(anonymous)'} ${place(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  const walk = (node: HeapNode, stack: readonly string[]): number => {
    const l = label(node.callFrame);
    const here = stack.includes(l) ? stack : [...stack, l];
    let size = node.selfSize;
    self.set(l, (self.get(l) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) size += walk(child, here);
    if (!stack.includes(l)) inclusive.set(l, (inclusive.get(l) ?? 0) + size);
    return size;
  };
  walk(profile.head, []);
  const unit = requests ? 'bytes/req' : 'KiB';
  const scale = (b: number) => (requests ? b / requests : b / 1024);
  console.log(`heap profile: ${(total / 2 ** 20).toFixed(1)} MiB sampled`);
  for (const [title, map] of [
    ['self', self],
    ['inclusive', inclusive],
  ] as const) {
    console.log(`\n${title} bytes by allocating function (${unit})`);
    for (const [name, size] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      console.log(`${scale(size).toFixed(0).padStart(8)}  ${name}`);
    }
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--summarise') {
    const profile = JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as CpuProfile & {
      head?: HeapNode;
    };
    const requests = process.argv[4] ? Number(process.argv[4]) : undefined;
    if (profile.head) summariseHeap(profile as { head: HeapNode }, requests);
    else summarise(profile, requests);
    return;
  }
  if (pinSelf()) return;
  const pinned = process.env.BENCH_PINNED === '1';
  const names = process.argv.slice(2);
  if (names.length === 0)
    throw new Error("name one or more configurations, e.g. 'koa tw full HS256'");
  const keys = generateKeys();
  const prefix = `bench-profile-${randomBytes(4).toString('hex')}:`;
  const configs = serverConfigs(prefix, true);
  mkdirSync(DIR, { recursive: true });
  try {
    for (const name of names) {
      const config = configs[name];
      if (config === undefined) throw new Error(`no configuration '${name}'`);
      const kind = process.env.PROFILE_TOKENS ?? (config.kind === 'bare' ? 'none' : 'pool');
      const alg: BenchAlgorithm = config.alg ?? 'HS256';
      const tokens: TokenSource =
        kind === 'none'
          ? { kind: 'none' }
          : kind === 'cold'
            ? { kind: 'cold', next: coldMinter(keys.hs256) }
            : { kind: 'pool', pool: tokenPool(keys, alg) };
      const server = await startServer(config, serverKeys(keys), pinned);
      try {
        await load(server, tokens, 3);
        const heap = KIND !== 'cpu';
        const file = join(
          DIR,
          `${name.replace(/[^A-Za-z0-9]+/g, '-')}.${heap ? 'heapprofile' : 'cpuprofile'}`,
        );
        await ask(
          server,
          heap
            ? {
                cmd: 'heap-start',
                collected: KIND === 'alloc' ? 'all' : KIND === 'promoted' ? 'promoted' : undefined,
              }
            : { cmd: 'profile-start' },
        );
        const running = load(server, tokens, SECONDS);
        if (process.env.PROFILE_SNAPSHOT) {
          // A heap snapshot in the middle of the load: what requests in flight keep alive.
          await new Promise((resolve) => setTimeout(resolve, (SECONDS * 1000) / 2));
          await ask(server, { cmd: 'snapshot', file: process.env.PROFILE_SNAPSHOT });
        }
        const sample = await running;
        await ask(server, { cmd: heap ? 'heap-stop' : 'profile-stop', file });
        console.log(
          `\n=== ${name} (${kind} tokens): ${sample.rps.toFixed(0)} req/s, server CPU ` +
            `${sample.cpuPerRequest.toFixed(1)} µs/req (system ${sample.systemPerRequest.toFixed(1)}), GC ${sample.gcPerRequest.toFixed(1)} µs/req, ` +
            `non-2xx ${sample.non2xx}, errors ${sample.errors}\nprofile: ${file}`,
        );
        const { metrics } = await ask(server, { cmd: 'metrics' });
        const counters = (metrics ?? '')
          .split('\n')
          .filter((l) =>
            /^tokenwarden_(cache_lookups|audit_events|store_operation_duration_seconds_count|decisions)_total|^tokenwarden_store_operation_duration_seconds_count/.test(
              l,
            ),
          );
        if (counters.length > 0) console.log(counters.join('\n'));
        const profile = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        if (heap) {
          // Live objects are a snapshot, not a rate: show them in KiB.
          summariseHeap(
            profile as { head: HeapNode },
            KIND === 'heap' ? undefined : sample.requests,
          );
        } else {
          summarise(profile as CpuProfile, sample.requests);
        }
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    await deleteRunKeys(prefix);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
