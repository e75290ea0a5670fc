/**
 * What the benchmark runner (run.ts) and the profiler (profile.ts) share: keys and tokens, the
 * server configurations, starting a server process, driving it with autocannon, and asking it
 * for its CPU time, GC time and a CPU profile over IPC.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import {
  BENCH_AUDIENCE,
  BENCH_ISSUER,
  SCOPE,
  type BenchAlgorithm,
  type BenchKeys,
  type ServerConfig,
  type ServerReply,
  type ServerRequest,
  type ServerUsage,
} from './shared';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Tokens per pool. */
export const POOL = 1000;
/** Subjects in a pool (consent is granted for each). */
export const SUBJECTS = 1000;

/** The commit the run measures (`git rev-parse --short HEAD`), with `+dirty` for local changes. */
export function commitInfo(): string {
  try {
    const quiet = {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'],
    };
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], quiet).toString().trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--', 'packages', 'test/bench'],
      quiet,
    )
      .toString()
      .trim();
    return dirty === '' ? commit : `${commit}+dirty`;
  } catch {
    return 'unknown';
  }
}

/** The machine a result was measured on, for the results files. */
export function machineInfo(): {
  cpus: number;
  model: string | undefined;
  memoryGiB: number;
  node: string;
} {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** Writes `result` as test/bench/results/<file> and says where it went. */
export function writeResult(file: string, result: unknown): void {
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), JSON.stringify(result, null, 2) + '\n');
  console.log(`\nresults: ${join('test', 'bench', 'results', file)}`);
}

export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return cpus().length > 1;
  } catch {
    return false;
  }
}

/** A free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A Redis of the run's own, pinned to CPU 1 with the load generator, so it never competes with the
 * server under test for CPU 0 (the machine's shared Redis runs wherever the scheduler puts it, and
 * a Redis waiting for CPU 0 lengthens every audit write and state miss of the server: the audit
 * events then live longer, survive young collections and cost GC time). No persistence.
 */
async function startOwnRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'taskset',
    ['-c', '1', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', ''],
    { stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    // Refused while it starts: expected, and retried below.
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      await redis.ping();
      return { url, child };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      redis.disconnect();
    }
  }
  child.kill('SIGTERM');
  throw new Error("the run's own redis-server did not start");
}

/**
 * Re-runs this script pinned to CPU 1, so the servers own CPU 0. True in the parent. Unless
 * REDIS_URL is set (or BENCH_REDIS=shared), the run gets a Redis of its own on CPU 1 (see
 * {@link startOwnRedis}), stopped when the run ends.
 */
export function pinSelf(): boolean {
  if (process.env.BENCH_PINNED === '1' || !hasTaskset()) return false;
  void (async () => {
    const own =
      process.env.REDIS_URL === undefined &&
      process.env.BENCH_REDIS !== 'shared' &&
      hasRedisServer()
        ? await startOwnRedis()
        : undefined;
    if (own) console.log(`own Redis on CPU 1: ${own.url}`);
    const child = spawn(
      'taskset',
      ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
      {
        stdio: 'inherit',
        env: {
          ...process.env,
          BENCH_PINNED: '1',
          ...(own ? { REDIS_URL: own.url, BENCH_REDIS: 'own, on CPU 1' } : {}),
        },
      },
    );
    child.on('exit', (code) => {
      if (own === undefined || own.child.exitCode !== null) process.exit(code ?? 1);
      own.child.once('exit', () => process.exit(code ?? 1));
      own.child.kill('SIGTERM');
    });
  })().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
  return true;
}

/** Keys of one run (never stored), with the private halves the token pools are signed with. */
export type RunKeys = BenchKeys & { rs256Private: string; es256Private: string };

export function generateKeys(): RunKeys {
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

/** What a server is given: the public halves only. */
export function serverKeys(keys: RunKeys): BenchKeys {
  return {
    hs256: keys.hs256,
    rs256Public: keys.rs256Public,
    es256Public: keys.es256Public,
    fingerprint: keys.fingerprint,
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

export function tokenPool(keys: RunKeys, alg: BenchAlgorithm): string[] {
  const key =
    alg === 'HS256' ? keys.hs256 : alg === 'RS256' ? keys.rs256Private : keys.es256Private;
  return Array.from({ length: POOL }, (_, i) =>
    jwt.sign(claims(i), key, { algorithm: alg, keyid: KIDS[alg] }),
  );
}

/** A fresh HS256 token per call, signed by hand: cheap enough for the load generator. */
export function coldMinter(secret: string): () => string {
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

/** Every server configuration of the benchmark, by name. */
export function serverConfigs(prefix: string, streamSink: boolean): Record<string, ServerConfig> {
  const base = { subjects: SUBJECTS, prefix } as const;
  const full = {
    ...base,
    kind: 'tokenwarden',
    store: 'redis',
    full: true,
    ...(streamSink ? { auditSink: 'redis-stream' as const } : {}),
  } as const;
  return {
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
    // The cold path in a process of its own: run in the warm row's server, its never-seen tokens
    // evicted the pool from both caches and grew that server's heap before every warm round.
    'tw full HS256 cold': { ...full, framework: 'express', alg: 'HS256' },
    'tw full RS256': { ...full, framework: 'express', alg: 'RS256' },
    'tw full ES256': { ...full, framework: 'express', alg: 'ES256' },
    koa: { ...base, framework: 'koa', kind: 'bare' },
    'koa-jwt HS256': { ...base, framework: 'koa', kind: 'koa-jwt', alg: 'HS256' },
    'koa tw full HS256': { ...full, framework: 'koa', alg: 'HS256' },
    nest: { ...base, framework: 'nest', kind: 'bare' },
    'nest tw full HS256': { ...full, framework: 'nest', alg: 'HS256' },
    'nest jwt guard HS256': { ...base, framework: 'nest', kind: 'jwt-guard', alg: 'HS256' },
    'nest fastify': { ...base, framework: 'nest', platform: 'fastify', kind: 'bare' },
    'nest fastify jwt guard HS256': {
      ...base,
      framework: 'nest',
      platform: 'fastify',
      kind: 'jwt-guard',
      alg: 'HS256',
    },
    'nest fastify tw full HS256': { ...full, framework: 'nest', platform: 'fastify', alg: 'HS256' },
    'nest tw full HS256 no audit': {
      ...full,
      framework: 'nest',
      alg: 'HS256',
      auditSink: undefined,
    },
    // For profiling only (not rows of run.ts): the full configuration without its audit trail,
    // and Koa with the memory store and nothing else.
    'koa tw full HS256 no audit': {
      ...full,
      framework: 'koa',
      alg: 'HS256',
      auditSink: undefined,
    },
    'tw full HS256 no audit': { ...full, framework: 'express', alg: 'HS256', auditSink: undefined },
    'koa tw HS256 memory': { ...base, framework: 'koa', kind: 'tokenwarden', alg: 'HS256' },
  };
}

/** A running server process. */
export interface Started {
  readonly child: ChildProcess;
  readonly port: number;
}

/**
 * Starts one server in its own process (pinned to CPU 0 when `pin`); `nodeArgs` and the
 * space-separated BENCH_NODE_ARGS go to node before the script (e.g. `--trace-gc`). `tree` is the
 * checkout whose server and packages run (default: this one).
 */
/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, almost always 100). */
let ticks: number | undefined;

/**
 * CPU time (user and system, µs) of a process and all its threads (GC helpers and libuv's pool
 * included), read from `/proc/<pid>/stat` by this process: it costs the server nothing and does
 * not wait for its event loop. `undefined` where there is no /proc.
 */
export function procCpu(
  pid: number | undefined,
): { cpuMicros: number; systemMicros: number } | undefined {
  if (pid === undefined) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  const micros = 1e6 / ticks;
  return { cpuMicros: (user + system) * micros, systemMicros: system * micros };
}

export function startServer(
  config: ServerConfig,
  keys: BenchKeys,
  pin: boolean,
  nodeArgs: readonly string[] = [],
  tree: string = root,
): Promise<Started> {
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
  const node = [
    process.execPath,
    ...extra,
    ...nodeArgs,
    '--import',
    'tsx',
    join(tree, 'test', 'bench', 'server.ts'),
  ];
  const [command, ...args] = pin ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(command!, args, {
    cwd: tree,
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
    const onMessage = (message: { port?: number }) => {
      if (typeof message.port !== 'number') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve({ child, port: message.port });
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`server exited with ${code ?? 'a signal'}`)));
  });
}

let nextAsk = 0;

/** Sends a request to a server over IPC and waits for its answer. */
export function ask(server: Started, request: Omit<ServerRequest, 'id'>): Promise<ServerReply> {
  const id = ++nextAsk;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.child.off('message', onMessage);
      reject(new Error(`server did not answer '${request.cmd}'`));
    }, 30_000);
    const onMessage = (message: ServerReply) => {
      if (message?.id !== id) return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      resolve(message);
    };
    server.child.on('message', onMessage);
    server.child.send({ ...request, id });
  });
}

/** The server's CPU and GC time so far. */
export async function usage(server: Started): Promise<ServerUsage> {
  const reply = await ask(server, { cmd: 'usage' });
  return reply.usage!;
}

/** Stops a server and waits for it to exit. */
export async function stopServer(server: Started): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** What a row sends: no token, a token from the pool, or a never-seen token per request. */
export type TokenSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'pool'; readonly pool: readonly string[] }
  | { readonly kind: 'cold'; readonly next: () => string };

/** One autocannon run against one server. */
export interface Sample {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Requests answered. */
  readonly requests: number;
  /** Server CPU time (user + system) per request, in µs. */
  readonly cpuPerRequest: number;
  /** The system (kernel) part of it. */
  readonly systemPerRequest: number;
  /** Server garbage collection pause time per request, in µs. */
  readonly gcPerRequest: number;
}

/**
 * Drives a server for `seconds`. Pooled tokens are sent as a fixed list of pre-built requests
 * (each connection cycles through it), so the load generator spends no time per request building
 * headers; only the cold path builds one per request. Each connection starts at its own place in
 * the pool (connection i at i × pool / connections), as independent clients would: otherwise
 * every connection sends the same token at the same moment, all the time.
 */
export async function load(
  server: Started,
  tokens: TokenSource,
  seconds: number,
  connections = CONNECTIONS,
): Promise<Sample> {
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
  let client = 0;
  const spread =
    tokens.kind === 'pool'
      ? {
          setupClient: (c: autocannon.Client) => {
            const at = Math.floor((client++ * requests.length) / connections) % requests.length;
            c.setRequests([...requests.slice(at), ...requests.slice(0, at)]);
          },
        }
      : {};
  const before = await usage(server);
  const procBefore = procCpu(server.child.pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/hello`,
    connections,
    duration: seconds,
    requests,
    ...spread,
  });
  const procAfter = procCpu(server.child.pid);
  const after = await usage(server);
  const count = Math.max(1, result.requests.total);
  // /proc when there is one (every thread, read from outside); else the server's own count.
  const cpu =
    procBefore !== undefined && procAfter !== undefined
      ? {
          total: procAfter.cpuMicros - procBefore.cpuMicros,
          system: procAfter.systemMicros - procBefore.systemMicros,
        }
      : {
          total: after.cpuMicros - before.cpuMicros,
          system: after.systemMicros - before.systemMicros,
        };
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    requests: result.requests.total,
    cpuPerRequest: cpu.total / count,
    systemPerRequest: cpu.system / count,
    gcPerRequest: ((after.gcMs - before.gcMs) * 1000) / count,
  };
}

/** Deletes every Redis key of a run. */
export async function deleteRunKeys(prefix: string): Promise<void> {
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
