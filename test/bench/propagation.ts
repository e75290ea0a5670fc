/**
 * `pnpm bench:propagation`: how fast a revocation or a consent withdrawal made through one
 * Tokenwarden process is seen by a second process sharing Redis, with the local state cache on
 * (the default for `RedisStore`).
 *
 * - This file is the runner and, started again by it (PROPAGATION_ROLE), its two child processes.
 *   Both children create a warden on a `RedisStore` under a fresh key prefix. The writer revokes
 *   subjects (`revokeSubject`) and grants and withdraws consent (`grantConsent`,
 *   `withdrawConsent`); the observer checks each probe's token until it is allowed (its caches are
 *   then warm), then keeps checking it, one `setImmediate` between checks, until its first refusal
 *   for the expected reason. Tokens are HS256, signed with a secret the runner generates at start
 *   and hands to the children in PROPAGATION_SECRET; neither it nor a token is printed or written.
 * - Times are epoch ms read as `performance.timeOrigin + performance.now()` in each process. The
 *   delay of a probe is the observer's first-refusal time minus the time the writer's call
 *   resolved (the store acknowledged the change). It can be slightly negative: the change is
 *   announced from inside the store's script, so the observer may drop its cached entry before the
 *   writer has read the script's reply. Negative delays are kept as measured.
 * - Every probe has a fresh subject and token; revocation and withdrawal probes alternate, after
 *   20 of each that warm up both processes' code paths and are not counted. A probe not refused
 *   within 2 s of the acknowledgement has timed out.
 *
 * Prints min, p50, p90, p99 and max per kind against the target (p99 ≤ 10 ms, met only with no
 * probe timed out) and writes test/bench/results/propagation.json. Exits 1 if any probe timed out
 * or did not run; missing the target is reported, not a failure. Stops by itself.
 *
 * Environment: PROPAGATION_PROBES (300 of each kind), PROPAGATION_LOAD (0: checks per second the
 * observer also serves, on 1000 other tokens, so it measures a node under traffic), REDIS_URL
 * (redis://127.0.0.1:6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { createWarden, type Decision, type RequestView, type Requirement } from '@tokenwarden/core';
import { RedisStore } from '@tokenwarden/redis';
// The modules themselves: the testing package index also loads the jest-based contract suites.
import { TEST_AUDIENCE, TEST_ISSUER } from '../../packages/testing/src/fixtures';
import { deleteKeys } from '../../packages/testing/src/redis-server';
import { machineInfo, writeResult } from './harness';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PROBES = Number(process.env.PROPAGATION_PROBES ?? 300);
const LOAD = Number(process.env.PROPAGATION_LOAD ?? 0);
const PURPOSE = 'analytics';
const KID = 'hs-1';
const TARGET_P99_MS = 10;
/** A change not seen this long after its acknowledgement is a failed probe. */
const DEADLINE_MS = 2_000;
/** No probe starts after this long; the rest count as not run. */
const PROBE_BUDGET_MS = 40_000;
/** Last resort: the runner kills its children and exits 1. */
const WATCHDOG_MS = 90_000;
const LOAD_TOKENS = 1_000;
/** Probes of each kind run first and not counted: the first calls of a code path are slow. */
const WARMUP_PROBES = 20;

type Role = 'writer' | 'observer';
type Kind = 'revocation' | 'consent';

/** What the runner asks a child. */
type Command =
  | { readonly cmd: 'clock'; readonly id: number }
  | { readonly cmd: 'grant' | 'revoke' | 'withdraw'; readonly id: number; readonly subject: string }
  | {
      readonly cmd: 'watch';
      readonly id: number;
      readonly kind: Kind;
      readonly token: string;
      readonly subject: string;
    }
  | { readonly cmd: 'stop'; readonly id: number }
  | {
      readonly cmd: 'load';
      readonly id: number;
      readonly tokens: readonly string[];
      readonly perSecond: number;
    }
  | { readonly cmd: 'close'; readonly id: number };

/** A child's answer to one command (`at`: a reading of its clock, epoch ms). */
interface Reply {
  readonly id: number;
  readonly at?: number;
  readonly error?: string;
  readonly closing?: ChildStats;
}

/** The observer's report of a watched probe: `at` of the first refusal, absent if not seen. */
interface Seen {
  readonly seen: number;
  readonly at?: number;
  /** Refusals for other reasons while waiting (e.g. `store_unavailable`), by code. */
  readonly others: Readonly<Record<string, number>>;
  /** Checks made while waiting, and for how long (ms). */
  readonly checks: number;
  readonly waitedMs: number;
}

/** What a child reports when it closes. */
interface ChildStats {
  /** Times the observer's invalidation feed stopped being live (its cache was emptied). */
  readonly feedLost: number;
  readonly load?: LoadStats;
}

interface LoadStats {
  readonly seconds: number;
  readonly allowed: number;
  readonly denied: number;
  readonly failed: number;
  /** Checks not started because too many were still in flight. */
  readonly skipped: number;
}

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** `+1.234` or `-1.234` ms; never `-0.000`. */
function signed(ms: number): string {
  const text = Math.abs(ms).toFixed(3);
  return `${ms < 0 && Number(text) !== 0 ? '-' : '+'}${text}`;
}
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The request view of a check with `token` as the bearer token. */
function viewOf(token: string): RequestView {
  const authorization = [`Bearer ${token}`];
  return {
    method: 'GET',
    path: '/probe',
    url: '/probe',
    headerValues: (name) => (name === 'authorization' ? authorization : undefined),
  };
}

// ── Child processes ──────────────────────────────────────────────────────────────────────────

async function child(): Promise<void> {
  const secret = Buffer.from(process.env.PROPAGATION_SECRET ?? '', 'hex');
  delete process.env.PROPAGATION_SECRET;
  if (secret.length < 32) throw new Error('PROPAGATION_SECRET must be at least 32 bytes of hex');
  const store = new RedisStore({ url: REDIS_URL, prefix: process.env.PROPAGATION_PREFIX });
  const warden = createWarden({
    jwt: {
      algorithms: ['HS256'],
      keys: [{ kid: KID, alg: 'HS256', key: secret }],
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
    },
    store,
    purposes: [PURPOSE],
    metrics: false,
  });
  const consent: Requirement = warden.requirement({ consent: { purpose: PURPOSE } });
  const send = (reply: Reply | Seen) => process.send?.(reply);

  // The state cache is used only while the invalidation feed is live: wait for it.
  const feed = store.invalidations();
  let feedLost = 0;
  const unsubscribe = feed.subscribe({
    invalidate: () => {},
    live: (isLive) => {
      if (!isLive) feedLost += 1;
    },
  });
  const liveBy = now() + 15_000;
  while (!feed.isLive) {
    if (now() > liveBy) throw new Error('the invalidation feed did not become live in 15 s');
    await sleep(20);
  }
  feedLost = 0;

  /** The probe being watched (observer), stopped by the runner when it gives up. */
  let watching: { id: number; stopped: boolean } | undefined;

  async function watch(command: Extract<Command, { cmd: 'watch' }>): Promise<Reply> {
    const view = viewOf(command.token);
    const requirement = command.kind === 'consent' ? consent : undefined;
    const expected = command.kind === 'consent' ? 'consent_withdrawn' : 'token_revoked';
    // Warm-up: until allowed (the state read from Redis is then cached), and once more.
    const warmBy = now() + DEADLINE_MS;
    let decision: Decision;
    for (;;) {
      decision = await warden.check(view, requirement);
      if (decision.outcome === 'allow') break;
      if (now() > warmBy) return { id: command.id, error: `refused before the change` };
      await sleep(5);
    }
    if (command.kind === 'consent' && decision.dataSubject !== command.subject) {
      return { id: command.id, error: 'consent was checked for another subject' };
    }
    decision = await warden.check(view, requirement);
    if (decision.outcome !== 'allow') return { id: command.id, error: 'refused before the change' };
    const state = { id: command.id, stopped: false };
    watching = state;
    void (async () => {
      const others: Record<string, number> = {};
      const from = now();
      const giveUpAt = from + 3 * DEADLINE_MS;
      let checks = 0;
      while (!state.stopped && now() < giveUpAt) {
        const d = await warden.check(view, requirement);
        const at = now();
        checks += 1;
        if (d.outcome === 'deny') {
          if (d.code === expected) {
            send({ seen: state.id, at, others, checks, waitedMs: at - from });
            return;
          }
          others[d.code] = (others[d.code] ?? 0) + 1;
        }
        await turn();
      }
      send({ seen: state.id, others, checks, waitedMs: now() - from });
    })();
    return { id: command.id };
  }

  const load: { timer?: NodeJS.Timeout; started: number; stats: Omit<LoadStats, 'seconds'> } = {
    started: 0,
    stats: { allowed: 0, denied: 0, failed: 0, skipped: 0 },
  };

  /** Unrelated checks at `perSecond`, on a timer, whatever the probes do. */
  function startLoad(tokens: readonly string[], perSecond: number): void {
    const views = tokens.map(viewOf);
    const stats = { allowed: 0, denied: 0, failed: 0, skipped: 0 };
    const maxInFlight = Math.max(50, Math.ceil(perSecond / 10));
    let issued = 0;
    let inFlight = 0;
    load.started = now();
    load.stats = stats;
    load.timer = setInterval(() => {
      const due = Math.floor(((now() - load.started) * perSecond) / 1000);
      for (; issued < due; issued++) {
        if (inFlight >= maxInFlight) {
          stats.skipped += 1;
          continue;
        }
        inFlight += 1;
        warden.check(views[issued % views.length]!).then(
          (d) => {
            inFlight -= 1;
            if (d.outcome === 'allow') stats.allowed += 1;
            else stats.denied += 1;
          },
          () => {
            inFlight -= 1;
            stats.failed += 1;
          },
        );
      }
    }, 5);
  }

  async function close(id: number): Promise<Reply> {
    if (watching) watching.stopped = true;
    const seconds = load.timer === undefined ? 0 : (now() - load.started) / 1000;
    if (load.timer !== undefined) clearInterval(load.timer);
    unsubscribe();
    await warden.close();
    await store.close();
    return {
      id,
      closing: {
        feedLost,
        ...(load.timer === undefined
          ? {}
          : { load: { seconds: Math.round(seconds * 10) / 10, ...load.stats } }),
      },
    };
  }

  async function answer(command: Command): Promise<Reply> {
    switch (command.cmd) {
      case 'clock':
        return { id: command.id, at: now() };
      case 'grant':
        await warden.grantConsent({ subject: command.subject, purpose: PURPOSE });
        return { id: command.id, at: now() };
      case 'revoke':
        await warden.revokeSubject(command.subject);
        return { id: command.id, at: now() };
      case 'withdraw':
        await warden.withdrawConsent({ subject: command.subject, purpose: PURPOSE });
        return { id: command.id, at: now() };
      case 'watch':
        return watch(command);
      case 'stop':
        if (watching?.id === command.id) watching.stopped = true;
        return { id: command.id };
      case 'load':
        startLoad(command.tokens, command.perSecond);
        return { id: command.id };
      case 'close':
        return close(command.id);
    }
  }

  process.on('message', (command: Command) => {
    answer(command).then(
      (reply) => {
        send(reply);
        if (command.cmd === 'close') process.disconnect();
      },
      (error: unknown) => send({ id: command.id, error: message(error) }),
    );
  });
  // The runner is gone: nothing more to do.
  process.once('disconnect', () => setTimeout(() => process.exit(0), 100).unref());
  process.send?.({ id: 0, at: now() } satisfies Reply);
}

// ── Runner ───────────────────────────────────────────────────────────────────────────────────

interface Child {
  readonly role: Role;
  readonly process: ChildProcess;
}

/** Every child started, stopped at the end whatever happened. */
const children: Child[] = [];

function startChild(role: Role, secret: Buffer, prefix: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      REDIS_URL,
      PROPAGATION_ROLE: role,
      PROPAGATION_PREFIX: prefix,
      PROPAGATION_SECRET: secret.toString('hex'),
    },
  });
  const started: Child = { role, process: proc };
  children.push(started);
  proc.on('error', (error) => console.error(`propagation: the ${role}: ${error.message}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${role} did not start in 30 s`)), 30_000);
    proc.once('exit', (code) => reject(new Error(`the ${role} exited with ${code ?? 'a signal'}`)));
    proc.once('message', () => {
      clearTimeout(timer);
      resolve(started);
    });
  });
}

let nextId = 0;

/** Sends a command to a child and waits for its reply; a reply with an error rejects. */
function ask(to: Child, command: Command): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      to.process.off('message', onMessage);
      to.process.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the ${to.role} did not answer '${command.cmd}' in 10 s`));
    }, 10_000);
    const onExit = () => {
      done();
      reject(new Error(`the ${to.role} exited before answering '${command.cmd}'`));
    };
    const onMessage = (reply: Reply) => {
      if (reply?.id !== command.id) return;
      done();
      if (reply.error === undefined) resolve(reply);
      else reject(new Error(`the ${to.role} failed '${command.cmd}': ${reply.error}`));
    };
    to.process.on('message', onMessage);
    to.process.once('exit', onExit);
    to.process.send(command);
  });
}

/** Resolves with the observer's report of the probe `id` (it always sends one). */
function seenBy(observer: Child, id: number): Promise<Seen> {
  return new Promise((resolve) => {
    const onMessage = (report: Seen) => {
      if (report?.seen !== id) return;
      observer.process.off('message', onMessage);
      resolve(report);
    };
    observer.process.on('message', onMessage);
  });
}

/** A child's clock minus the runner's, from the IPC round trip that was fastest. */
async function clockOffset(to: Child): Promise<{ offset: number; error: number }> {
  let best = { offset: 0, error: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 20; i++) {
    const sent = now();
    const { at } = await ask(to, { cmd: 'clock', id: ++nextId });
    const back = now();
    if ((back - sent) / 2 < best.error) {
      best = { offset: at! - (sent + back) / 2, error: (back - sent) / 2 };
    }
  }
  return best;
}

/** An HS256 token of `subject`, issued a second ago (so a revocation now covers it). */
function mint(secret: Buffer, subject: string): string {
  const iat = Math.floor(Date.now() / 1000) - 1;
  return jwt.sign(
    {
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      sub: subject,
      jti: randomUUID(),
      iat,
      exp: iat + 600,
      scope: 'customers:read',
      client_id: 'web-app',
    },
    secret,
    { algorithm: 'HS256', keyid: KID },
  );
}

interface Probe {
  /** ms from the acknowledgement to the first refusal; absent when it timed out. */
  readonly delay?: number;
  readonly others: Readonly<Record<string, number>>;
  /** The observer's checks while waiting, and for how long (ms). */
  readonly checks: number;
  readonly waitedMs: number;
}

async function probe(
  kind: Kind,
  label: string,
  secret: Buffer,
  writer: Child,
  observer: Child,
): Promise<Probe> {
  const subject = `probe-${kind}-${label}-${randomBytes(4).toString('hex')}`;
  const token = mint(secret, subject);
  if (kind === 'consent') await ask(writer, { cmd: 'grant', id: ++nextId, subject });
  const id = ++nextId;
  const seen = seenBy(observer, id);
  await ask(observer, { cmd: 'watch', id, kind, token, subject });
  let acknowledged: number;
  try {
    const change = kind === 'consent' ? 'withdraw' : 'revoke';
    acknowledged = (await ask(writer, { cmd: change, id: ++nextId, subject })).at!;
  } catch (error) {
    await ask(observer, { cmd: 'stop', id });
    await seen;
    throw error;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, acknowledged + DEADLINE_MS - now()));
  });
  let report = await Promise.race([seen, late]);
  clearTimeout(timer);
  if (report === undefined) {
    await ask(observer, { cmd: 'stop', id });
    report = await seen;
  }
  const delay = report.at === undefined ? undefined : report.at - acknowledged;
  return {
    delay: delay !== undefined && delay <= DEADLINE_MS ? delay : undefined,
    others: report.others,
    checks: report.checks,
    waitedMs: report.waitedMs,
  };
}

interface KindStats {
  readonly probes: number;
  readonly timedOut: number;
  readonly minMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** Refusals for other reasons the observer saw while waiting, by code. */
  readonly otherRefusals: Readonly<Record<string, number>>;
  /** Mean time between two of the observer's checks while waiting, in µs: the resolution. */
  readonly checkIntervalMicros: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function statsOf(probes: readonly Probe[]): KindStats {
  const delays = probes
    .flatMap((p) => (p.delay === undefined ? [] : [p.delay]))
    .sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  const otherRefusals: Record<string, number> = {};
  for (const p of probes) {
    for (const [code, n] of Object.entries(p.others)) {
      otherRefusals[code] = (otherRefusals[code] ?? 0) + n;
    }
  }
  return {
    probes: probes.length,
    timedOut: probes.length - delays.length,
    minMs: round(delays[0] ?? Number.NaN),
    p50Ms: round(percentile(delays, 0.5)),
    p90Ms: round(percentile(delays, 0.9)),
    p99Ms: round(percentile(delays, 0.99)),
    maxMs: round(delays[delays.length - 1] ?? Number.NaN),
    meanMs: round(delays.reduce((sum, d) => sum + d, 0) / Math.max(1, delays.length)),
    otherRefusals,
    checkIntervalMicros: Math.round(
      (1000 * probes.reduce((sum, p) => sum + p.waitedMs, 0)) /
        Math.max(
          1,
          probes.reduce((sum, p) => sum + p.checks, 0),
        ),
    ),
  };
}

async function stopChild(c: Child): Promise<ChildStats | undefined> {
  const proc = c.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return undefined;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  let stats: ChildStats | undefined;
  try {
    if (proc.connected) stats = (await ask(c, { cmd: 'close', id: ++nextId })).closing;
  } catch (error) {
    console.error(message(error));
  }
  const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  proc.kill('SIGTERM');
  await exited;
  clearTimeout(kill);
  return stats;
}

async function main(): Promise<number> {
  if (!Number.isInteger(PROBES) || PROBES < 1 || PROBES > 100_000) {
    throw new Error('PROPAGATION_PROBES must be an integer from 1 to 100000');
  }
  if (!Number.isFinite(LOAD) || LOAD < 0 || LOAD > 100_000) {
    throw new Error('PROPAGATION_LOAD must be a number of checks per second from 0 to 100000');
  }
  const loadBefore = Math.round(loadavg()[0]! * 100) / 100;
  const secret = randomBytes(32);
  const prefix = `tokenwarden-propagation-${randomBytes(4).toString('hex')}:`;
  const redisPort = Number(new URL(REDIS_URL).port || 6379);
  const watchdog = setTimeout(() => {
    console.error(`propagation: not finished in ${WATCHDOG_MS / 1000} s, stopping`);
    for (const c of children) c.process.kill('SIGKILL');
    setTimeout(() => process.exit(1), 3_000).unref();
    void deleteKeys(redisPort, prefix).finally(() => process.exit(1));
  }, WATCHDOG_MS);
  watchdog.unref();
  console.log(
    `propagation: ${PROBES} revocation and ${PROBES} consent-withdrawal probes, state cache on, observer load ${LOAD} checks/s, Redis ${new URL(REDIS_URL).host}; ${cpus().length} CPUs, load average ${loadBefore.toFixed(2)}`,
  );
  try {
    const [writer, observer] = await Promise.all([
      startChild('writer', secret, prefix),
      startChild('observer', secret, prefix),
    ]);
    const a = await clockOffset(writer);
    const b = await clockOffset(observer);
    const clock = {
      offsetMs: Math.round((b.offset - a.offset) * 1000) / 1000,
      uncertaintyMs: Math.round((a.error + b.error) * 1000) / 1000,
    };
    if (LOAD > 0) {
      const tokens = Array.from({ length: LOAD_TOKENS }, (_, i) => mint(secret, `load-${i}`));
      await ask(observer, { cmd: 'load', id: ++nextId, tokens, perSecond: LOAD });
      await sleep(2_000); // the load's tokens and state are cached by now
    }

    for (let i = 0; i < WARMUP_PROBES; i++) {
      for (const kind of ['revocation', 'consent'] as const) {
        await probe(kind, `warm-up-${i}`, secret, writer, observer);
      }
    }
    const results: Record<Kind, Probe[]> = { revocation: [], consent: [] };
    const started = now();
    let notRun = 0;
    for (let i = 0; i < PROBES; i++) {
      if (now() - started > PROBE_BUDGET_MS) {
        notRun = 2 * (PROBES - i);
        break;
      }
      for (const kind of ['revocation', 'consent'] as const) {
        results[kind].push(await probe(kind, String(i), secret, writer, observer));
      }
    }
    const probeSeconds = (now() - started) / 1000;
    const [, observerStats] = await Promise.all([stopChild(writer), stopChild(observer)]);

    const revocation = statsOf(results.revocation);
    const withdrawal = statsOf(results.consent);
    const timedOut = revocation.timedOut + withdrawal.timedOut;
    const missed = (
      [
        ['revocation', revocation],
        ['consent withdrawal', withdrawal],
      ] as const
    ).filter(([, s]) => s.timedOut > 0 || !(s.p99Ms <= TARGET_P99_MS));
    const met = missed.length === 0 && notRun === 0;
    const ms = (value: number) => value.toFixed(2);
    const line = (name: string, s: KindStats) => {
      const others = Object.entries(s.otherRefusals).map(([code, n]) => `${code}×${n}`);
      return `${name.padEnd(20)} n=${s.probes - s.timedOut}  min ${ms(s.minMs)}  p50 ${ms(s.p50Ms)}  p90 ${ms(s.p90Ms)}  p99 ${ms(s.p99Ms)}  max ${ms(s.maxMs)} ms; timed out ${s.timedOut}; a check every ${s.checkIntervalMicros} µs${others.length > 0 ? `; other refusals while waiting: ${others.join(', ')}` : ''}`;
    };
    const load = observerStats?.load;
    console.log(
      [
        `clocks: observer − writer ${signed(clock.offsetMs)} ms (± ${clock.uncertaintyMs.toFixed(3)} ms, from IPC round trips)`,
        `probes took ${probeSeconds.toFixed(1)} s${notRun > 0 ? `; ${notRun} not run (budget of ${PROBE_BUDGET_MS / 1000} s spent)` : ''}`,
        ...(load
          ? [
              `observer load: ${LOAD} checks/s asked, ${((load.allowed + load.denied + load.failed) / load.seconds).toFixed(0)} served (${load.allowed} allowed, ${load.denied} refused, ${load.failed} failed, ${load.skipped} skipped with too many in flight)`,
            ]
          : []),
        `observer's invalidation feed: ${observerStats === undefined ? 'unknown' : observerStats.feedLost === 0 ? 'live throughout' : `lost ${observerStats.feedLost} times`}`,
        '',
        line('revocation', revocation),
        line('consent withdrawal', withdrawal),
        '',
        `target p99 ≤ ${TARGET_P99_MS} ms: ${met ? 'met' : `missed (${missed.map(([name, s]) => `${name} p99 ${ms(s.p99Ms)} ms${s.timedOut > 0 ? `, ${s.timedOut} timed out` : ''}`).join('; ') || `${notRun} probes not run`})`}`,
      ].join('\n'),
    );

    const result = {
      date: new Date().toISOString(),
      machine: { ...machineInfo(), loadAverage: loadBefore },
      command: 'pnpm bench:propagation',
      settings: {
        probes: PROBES,
        loadPerSecond: LOAD,
        deadlineMs: DEADLINE_MS,
        stateCache: 'on',
        redis: new URL(REDIS_URL).host,
      },
      clock,
      probeSeconds: Math.round(probeSeconds * 10) / 10,
      notRun,
      revocation,
      consentWithdrawal: withdrawal,
      ...(load ? { load } : {}),
      observerFeedLost: observerStats?.feedLost,
      target: { p99Ms: TARGET_P99_MS, met },
    };
    writeResult('propagation.json', result);
    return timedOut > 0 || notRun > 0 ? 1 : 0;
  } finally {
    await Promise.all(children.map(stopChild));
    await deleteKeys(redisPort, prefix).catch((error: unknown) =>
      console.error(`propagation: the run's keys could not be deleted: ${message(error)}`),
    );
  }
}

const role = process.env.PROPAGATION_ROLE;
if (role === 'writer' || role === 'observer') {
  child().catch((error: unknown) => {
    console.error(`propagation ${role}: ${message(error)}`);
    process.exit(1);
  });
} else {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`propagation: ${message(error)}`);
      process.exit(1);
    },
  );
}
