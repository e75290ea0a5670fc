/**
 * `pnpm soak`: load and soak of the Express adapter on Redis, with revocations and consent changes
 * during the load, and the propagation delay between two application processes.
 *
 * - Two server processes (`server.ts`) share one Redis under a fresh key prefix. Process A takes
 *   the load (autocannon, closed loop, every request with a token from a pool larger than the
 *   verified-token cache); process B is where revocations, withdrawals and grants are made.
 * - During the load: a churn loop revokes pool tokens and withdraws and re-grants consents through
 *   B, and a propagation loop measures, for a fresh token (or consent) A has just allowed, the time
 *   from B acknowledging the revocation (withdrawal) to A's first refusal.
 * - Memory of A (heap and RSS, each read after a forced GC) is sampled every 5 s from the end of
 *   the warm-up; memory is flat when the end is within the margin of the post-warm-up level.
 *
 * Prints a summary and exits 0 only if: no answer other than the documented ones (200, 401
 * token_revoked, 403 consent_withdrawn / consent_missing, 503 store_unavailable), no transport
 * error, no unhandled rejection in any process, heap and RSS flat, and every change propagated
 * within 5 s. Bounded in time; stops by itself.
 *
 * `pnpm soak:full` (`--full`) is the soak of issue 21's full configuration: 10 minutes, audit
 * events to the Redis stream (RedisStreamSink), memory sampled every 10 s.
 *
 * Every memory sample (RSS and heap, each after a forced GC) is printed, with the trend of each
 * (least squares, MB per minute) over the samples after the warm-up.
 *
 * Environment: SOAK_SECONDS (300; 600 with --full), SOAK_WARMUP_SECONDS (min(30, SOAK_SECONDS / 4)),
 * SOAK_SAMPLE_SECONDS (10), SOAK_SINK (`redis-stream`, the default with --full; else events are
 * counted and dropped),
 * SOAK_CONNECTIONS (16), SOAK_POOL (20000 tokens), SOAK_STATE_CACHE (`off` to turn the local
 * state cache off), REDIS_URL (redis://127.0.0.1:6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
// The module itself: the package index also loads the jest-based contract suites.
import { deleteKeys } from '../../packages/testing/src/redis-server';
import { soakToken } from './shared';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const FULL = process.argv.includes('--full');
const SECONDS = Number(process.env.SOAK_SECONDS ?? (FULL ? 600 : 300));
const SAMPLE_SECONDS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10);
const SINK = process.env.SOAK_SINK ?? (FULL ? 'redis-stream' : 'count');
const WARMUP = Number(process.env.SOAK_WARMUP_SECONDS ?? Math.min(30, Math.floor(SECONDS / 4)));
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
const POOL = Number(process.env.SOAK_POOL ?? 20_000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CUSTOMERS = 500;
const PROPAGATION_DEADLINE_MS = 5_000;
/** Memory at the end may be at most this much above the post-warm-up level (ratio, plus bytes). */
const HEAP_MARGIN = { ratio: 1.15, bytes: 8 * 2 ** 20 };
const RSS_MARGIN = { ratio: 1.2, bytes: 32 * 2 ** 20 };

if (!(SECONDS >= 10 && SECONDS <= 3_000)) throw new Error('SOAK_SECONDS must be 10 to 3000');

const secret = randomBytes(32);
const prefix = `tokenwarden-soak-${randomBytes(4).toString('hex')}:`;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
let runnerUnhandled = 0;
process.on('unhandledRejection', () => void (runnerUnhandled += 1));

interface Stats {
  heapUsed: number;
  rss: number;
  unhandled: number;
  auditEvents: number;
  metrics: string[];
}

/** Starts `server.ts` under node with --expose-gc and resolves with its port. */
async function startServer(name: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(here, 'server.ts')],
    {
      cwd: root,
      env: {
        ...process.env,
        SOAK_SECRET: secret.toString('hex'),
        SOAK_PREFIX: prefix,
        SOAK_SINK: SINK,
        REDIS_URL,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port };
}

function call(
  port: number,
  method: 'GET' | 'POST',
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function stats(port: number, gc = false): Promise<Stats> {
  return JSON.parse((await call(port, 'GET', `/admin/stats${gc ? '?gc=1' : ''}`)).body) as Stats;
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Least-squares slope of `[seconds, bytes]` points, in bytes per minute (0 for fewer than 2). */
function slopePerMinute(points: readonly (readonly [number, number])[]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** The token pool: customers:read and marketing tokens, living an hour (longer than any run). */
function mintPool(now: number) {
  const iat = Math.floor(now / 1000);
  const exp = iat + 3_600;
  const read: { token: string; jti: string }[] = [];
  const marketing: string[] = [];
  for (let i = 0; i < POOL; i++) {
    const jti = `pool-${i}-${randomUUID()}`;
    read.push({
      token: soakToken(secret, { sub: `user-${i % 1000}`, jti, scope: 'customers:read', iat, exp }),
      jti,
    });
  }
  for (let i = 0; i < 1000; i++) {
    marketing.push(
      soakToken(secret, {
        sub: `agent-${i}`,
        jti: `mk-${i}-${randomUUID()}`,
        scope: 'customers:read marketing:read',
        iat,
        exp,
      }),
    );
  }
  return { read, marketing, expiresAt: exp * 1000 };
}

async function main(): Promise<number> {
  console.log(
    `soak: ${SECONDS} s (warm-up ${WARMUP} s), ${CONNECTIONS} connections, pool ${POOL} tokens, state cache ${process.env.SOAK_STATE_CACHE === 'off' ? 'off' : 'on'}, audit sink ${SINK === 'redis-stream' ? 'Redis stream' : 'counting'}, memory every ${SAMPLE_SECONDS} s`,
  );
  const a = await startServer('process A');
  const b = await startServer('process B');
  const children = [a.child, b.child];
  try {
    const pool = mintPool(Date.now());
    for (let k = 0; k < CUSTOMERS; k++) {
      await call(b.port, 'POST', '/admin/grant', { body: { subject: `c-${k}` } });
    }

    // ── Load on A ─────────────────────────────────────────────────────────────────────────────
    const answers = new Map<string, number>();
    const count = (key: string) => answers.set(key, (answers.get(key) ?? 0) + 1);
    let n = 0;
    const loadDone = new Promise<autocannon.Result>((resolve, reject) => {
      autocannon(
        {
          url: `http://127.0.0.1:${a.port}`,
          connections: CONNECTIONS,
          duration: SECONDS,
          requests: [
            {
              setupRequest: (req) => {
                n += 1;
                if (n % 5 === 0) {
                  const token = pool.marketing[n % pool.marketing.length]!;
                  return {
                    ...req,
                    path: `/customers/c-${n % CUSTOMERS}/profile`,
                    headers: { authorization: `Bearer ${token}` },
                  };
                }
                const { token } = pool.read[(n * 7919) % pool.read.length]!;
                return {
                  ...req,
                  path: `/customers/c${n % 100}`,
                  headers: { authorization: `Bearer ${token}` },
                };
              },
              onResponse: (status, body) => {
                if (status === 200) {
                  count('200');
                  return;
                }
                let code: string;
                try {
                  code = (JSON.parse(body) as { code?: string }).code ?? '?';
                } catch {
                  code = 'unparsable';
                }
                count(`${status} ${code}`);
              },
            },
          ],
        },
        (error, result) => (error ? reject(error as Error) : resolve(result)),
      );
    });
    const loadStarted = performance.now();
    const elapsed = () => (performance.now() - loadStarted) / 1000;

    // ── Churn through B: revocations, withdrawals and re-grants during the load ──────────────
    let revocations = 0;
    let withdrawals = 0;
    let churnErrors = 0;
    let churnUnavailable = 0;
    const controlFailed = (status: number) => {
      if (status === 503) churnUnavailable += 1;
      else if (status !== 200) churnErrors += 1;
    };
    const churn = (async () => {
      let i = 0;
      while (elapsed() < SECONDS - 1) {
        i += 1;
        try {
          const victim = pool.read[(i * 104_729) % pool.read.length]!;
          const r = await call(b.port, 'POST', '/admin/revoke', {
            body: { jti: victim.jti, expiresAt: pool.expiresAt },
          });
          controlFailed(r.status);
          if (r.status === 200) revocations += 1;
          const customer = `c-${(i * 31) % CUSTOMERS}`;
          const w = await call(b.port, 'POST', i % 2 ? '/admin/withdraw' : '/admin/grant', {
            body: { subject: customer },
          });
          controlFailed(w.status);
          if (i % 2 && w.status === 200) withdrawals += 1;
        } catch {
          churnErrors += 1;
        }
        await sleep(100);
      }
    })();

    // ── Propagation: change on B, first refusal on A (which is under load) ────────────────────
    const revokeDelays: number[] = [];
    const withdrawDelays: number[] = [];
    let notPropagated = 0;
    let unexpectedProbe = 0;
    const firstRefusal = async (token: string, path: string, refused: number, since: number) => {
      for (;;) {
        const r = await call(a.port, 'GET', path, { token });
        const delay = performance.now() - since;
        if (r.status === refused) return delay;
        if (r.status !== 200 && r.status !== 503) unexpectedProbe += 1;
        if (delay > PROPAGATION_DEADLINE_MS) return undefined;
      }
    };
    let probeUnavailable = 0;
    /** A control call or a probe request retried while the store answers 503 (documented). */
    const until200 = async (attempt: () => Promise<{ status: number }>) => {
      for (let tries = 0; tries < 20; tries++) {
        const r = await attempt();
        if (r.status === 200) return true;
        if (r.status !== 503) break;
        probeUnavailable += 1;
      }
      unexpectedProbe += 1;
      return false;
    };
    const propagation = (async () => {
      let i = 0;
      while (elapsed() < SECONDS - 2) {
        i += 1;
        try {
          const now = Math.floor(Date.now() / 1000);
          const jti = `probe-${i}-${randomUUID()}`;
          const token = soakToken(secret, {
            sub: `probe-${i}`,
            jti,
            scope: 'customers:read marketing:read',
            iat: now - 1,
            exp: now + 600,
          });
          if (await until200(() => call(a.port, 'GET', '/customers/c1', { token }))) {
            const revoke = { body: { jti, expiresAt: (now + 600) * 1000 } };
            if (await until200(() => call(b.port, 'POST', '/admin/revoke', revoke))) {
              const delay = await firstRefusal(token, '/customers/c1', 401, performance.now());
              if (delay === undefined) notPropagated += 1;
              else revokeDelays.push(delay);
            }
          }

          const subject = `probe-customer-${i}`;
          const fresh = soakToken(secret, {
            sub: `probe-agent-${i}`,
            jti: `pa-${jti}`,
            scope: 'marketing:read',
            iat: now - 1,
            exp: now + 600,
          });
          const path = `/customers/${subject}/profile`;
          if (
            (await until200(() => call(b.port, 'POST', '/admin/grant', { body: { subject } }))) &&
            (await until200(() => call(a.port, 'GET', path, { token: fresh }))) &&
            (await until200(() => call(b.port, 'POST', '/admin/withdraw', { body: { subject } })))
          ) {
            const consentDelay = await firstRefusal(fresh, path, 403, performance.now());
            if (consentDelay === undefined) notPropagated += 1;
            else withdrawDelays.push(consentDelay);
          }
        } catch {
          unexpectedProbe += 1;
        }
        await sleep(200);
      }
    })();

    // ── Memory of A: after the warm-up, then at the end of the load (both after a GC) ─────────
    await sleep(WARMUP * 1000);
    const warm = await stats(a.port, true);
    const series: string[] = [
      `${WARMUP}s heap ${mb(warm.heapUsed)} rss ${mb(warm.rss)} (after GC)`,
    ];
    const samples: { at: number; rss: number; heap: number }[] = [
      { at: elapsed(), rss: warm.rss, heap: warm.heapUsed },
    ];
    console.log(series[0]);
    while (elapsed() < SECONDS - 3 - SAMPLE_SECONDS) {
      await sleep(SAMPLE_SECONDS * 1_000);
      const s = await stats(a.port, true);
      samples.push({ at: elapsed(), rss: s.rss, heap: s.heapUsed });
      const line = `${elapsed().toFixed(0)}s heap ${mb(s.heapUsed)} rss ${mb(s.rss)}`;
      series.push(line);
      console.log(line);
    }
    await sleep(Math.max(0, (SECONDS - 3 - elapsed()) * 1000));
    const end = await stats(a.port, true);
    series.push(`${elapsed().toFixed(0)}s heap ${mb(end.heapUsed)} rss ${mb(end.rss)} (after GC)`);
    const result = await loadDone;
    await Promise.all([churn, propagation]);
    const endB = await stats(b.port);

    // ── Verdict ──────────────────────────────────────────────────────────────────────────────
    const documented = new Set([
      '200',
      '401 token_revoked',
      '403 consent_withdrawn',
      '403 consent_missing',
      '503 store_unavailable',
    ]);
    const undocumented = [...answers].filter(([key]) => !documented.has(key));
    const span = SECONDS - WARMUP;
    const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / Math.max(1, xs.length);
    const third = (k: 1 | 2, field: 'rss' | 'heap') =>
      mean(
        [...samples, { at: SECONDS, rss: end.rss, heap: end.heapUsed }]
          .filter(
            (r) => r.at >= WARMUP + (k * span) / 3 && r.at < WARMUP + ((k + 1) * span) / 3 + 1,
          )
          .map((r) => r[field]),
      );
    const heapMiddle = third(1, 'heap');
    const heapLast = third(2, 'heap');
    const rssMiddle = third(1, 'rss');
    const rssLast = third(2, 'rss');
    // The verdict compares the end with the level after the warm-up, both after a forced GC and
    // under the same load; the thirds are printed to show the trend.
    const after = [...samples, { at: elapsed(), rss: end.rss, heap: end.heapUsed }];
    const heapSlope = slopePerMinute(after.map((r) => [r.at, r.heap]));
    const rssSlope = slopePerMinute(after.map((r) => [r.at, r.rss]));
    const heapOk = end.heapUsed <= warm.heapUsed * HEAP_MARGIN.ratio + HEAP_MARGIN.bytes;
    const rssOk = end.rss <= warm.rss * RSS_MARGIN.ratio + RSS_MARGIN.bytes;
    const unhandled = end.unhandled + endB.unhandled + runnerUnhandled;
    const checks: [string, boolean][] = [
      [
        `only documented answers (${undocumented.map(([k, v]) => `${k}×${v}`).join(', ') || 'none other'})`,
        undocumented.length === 0,
      ],
      [
        `no transport errors or timeouts (${result.errors} errors, ${result.timeouts} timeouts)`,
        result.errors === 0 && result.timeouts === 0,
      ],
      [
        `no unhandled rejection (A ${end.unhandled}, B ${endB.unhandled}, runner ${runnerUnhandled})`,
        unhandled === 0,
      ],
      [
        `heap flat (after GC): ${mb(warm.heapUsed)} after warm-up → ${mb(end.heapUsed)} at the end (mean ${mb(heapMiddle)} in the middle third, ${mb(heapLast)} in the last; trend ${mb(heapSlope)}/min)`,
        heapOk,
      ],
      [
        `RSS flat (after GC): ${mb(warm.rss)} after warm-up → ${mb(end.rss)} at the end (mean ${mb(rssMiddle)} in the middle third, ${mb(rssLast)} in the last; trend ${mb(rssSlope)}/min)`,
        rssOk,
      ],
      [
        `every change propagated within ${PROPAGATION_DEADLINE_MS} ms (${notPropagated} not)`,
        notPropagated === 0,
      ],
      [
        `probes saw only documented answers (${unexpectedProbe} unexpected, ${probeUnavailable} retried after 503 store_unavailable)`,
        unexpectedProbe === 0,
      ],
      [
        `control calls answered 200 or 503 store_unavailable (${churnErrors} other failures, ${churnUnavailable} × 503)`,
        churnErrors === 0,
      ],
    ];
    const fmt = (values: number[]) =>
      values.length === 0
        ? 'no samples'
        : `n=${values.length} p50 ${percentile(values, 0.5).toFixed(1)} ms, p99 ${percentile(values, 0.99).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
    console.log(
      [
        '',
        `load on A: ${result.requests.total} requests in ${result.duration.toFixed(0)} s, ${result.requests.average.toFixed(0)} req/s average (min ${result.requests.min}, max ${result.requests.max}); latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`,
        `answers: ${[...answers].map(([k, v]) => `${k}×${v}`).join(', ')}`,
        `during the load: ${revocations} revocations, ${withdrawals} withdrawals (and as many re-grants) through B`,
        `propagation B → A, revocation: ${fmt(revokeDelays)}`,
        `propagation B → A, consent withdrawal: ${fmt(withdrawDelays)}`,
        `audit events written by A: ${end.auditEvents}`,
        `memory of A (every ${SAMPLE_SECONDS} s after the warm-up, after a forced GC): ${series.join('; ')}`,
        `A's cache and store metrics at the end:\n  ${end.metrics.join('\n  ')}`,
        '',
        ...checks.map(([text, ok]) => `${ok ? 'PASS' : 'FAIL'} ${text}`),
      ].join('\n'),
    );
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((child) =>
        child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined,
      ),
    );
    agent.destroy();
    await deleteKeys(Number(new URL(REDIS_URL).port || 6379), prefix);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
