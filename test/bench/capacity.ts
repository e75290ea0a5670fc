/**
 * `pnpm bench:capacity`: what one request, one revocation and one consent change cost Redis and
 * the application, and how much Redis memory a data subject's state takes, measured with Redis's
 * own counters. docs/scaling.md builds its capacity model and worked sizing on these figures.
 *
 * - Starts two throwaway `redis-server` processes on free ports (no persistence) and stops them by
 *   their pid at the end: a store Redis (revocation marks, consent records, invalidation channel)
 *   and an audit Redis (the audit stream), so the two costs are counted apart. Nothing touches the
 *   shared Redis on 6379.
 * - Every phase runs in this process: `warden.check(view, requirement)` with a `RedisStore` and a
 *   `RedisStreamSink` (a scope and a consent requirement, metrics on, audit in async mode, as the
 *   benchmark's "full" configuration), or the lifecycle calls (`revokeToken`, `revokeSubject`,
 *   `grantConsent`, `withdrawConsent`). CONCURRENCY calls are in flight at a time, as on a server
 *   under load.
 * - Per phase: `CONFIG RESETSTAT` on both servers, then the work, then `INFO stats`
 *   (total_net_input_bytes, total_net_output_bytes), `INFO cpu` (used_cpu_sys + used_cpu_user),
 *   `INFO commandstats` (every command run, those inside Lua scripts included) and `INFO memory`
 *   (used_memory); the application's CPU is `process.cpuUsage()` (user + system, this process:
 *   the warden, ioredis, metrics, the audit trail, garbage collection). An empty phase measured
 *   first is subtracted (the counters' own commands). Commands a client sent (the round trips),
 *   as opposed to those run inside scripts, are counted by MONITOR on a separate sample.
 * - During the request and change phases the store's heartbeat runs once a minute, so the
 *   per-unit figures hold the work of the unit only; an idle phase with the default heartbeat
 *   (250 ms) measures what a node costs Redis when doing nothing.
 * - Memory: fresh servers, then SUBJECTS consent records, SUBJECTS subject not-before marks and
 *   SUBJECTS / 10 revoked token ids, written through `createAdmin` on a `RedisStore`;
 *   used_memory is read before, at each quarter and after, and `MEMORY USAGE` on a sample of keys.
 *   The consent records are also written to a one-node Redis Cluster (cluster mode's per-key
 *   bookkeeping).
 *
 * Tokens are signed with keys generated at start (never printed or stored); subjects and token
 * ids are random UUIDs. Prints a table and writes test/bench/results/capacity.json.
 *
 * Environment: CAPACITY_N (20000 requests per warm phase), CAPACITY_COLD_N (5000 never-seen
 * tokens per cold phase), CAPACITY_CHANGES (2000 per change phase), CAPACITY_SUBJECTS (100000),
 * CAPACITY_SUBSCRIBERS (9: subscribers added to the invalidation channel, standing for other
 * nodes), REDIS_SERVER_BIN (redis-server).
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { Cluster, Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import {
  createAdmin,
  createWarden,
  type RequestView,
  type Requirement,
  type Warden,
  type WardenOptions,
} from '@tokenwarden/core';
import { RedisStore, RedisStreamSink } from '@tokenwarden/redis';
// The module itself: the testing package index also loads the jest-based contract suites.
import { RedisServer } from '../../packages/testing/src/redis-server';
import { machineInfo, writeResult } from './harness';

const N = Number(process.env.CAPACITY_N ?? 20_000);
const COLD_N = Number(process.env.CAPACITY_COLD_N ?? 5_000);
const CHANGES = Number(process.env.CAPACITY_CHANGES ?? 2_000);
const SUBJECTS = Number(process.env.CAPACITY_SUBJECTS ?? 100_000);
const EXTRA_SUBSCRIBERS = Number(process.env.CAPACITY_SUBSCRIBERS ?? 9);
/** Calls in flight at a time. */
const CONCURRENCY = 64;
/**
 * The audit queue is flushed after this many units: a loop without HTTP in front runs faster than
 * a node serves requests, and would otherwise fill the queue (10 000 events) and drop events.
 */
const FLUSH_EVERY = 2_000;
/** Units run under MONITOR to count the commands clients send. */
const SAMPLE = 200;
/** Subjects (with consent) of the token pool of the warm phases. */
const POOL = 1_000;
const IDLE_SECONDS = 5;
const ISSUER = 'https://issuer.example.com/';
const AUDIENCE = 'customers-api';
const SCOPE = 'customers:read';
const PURPOSE = 'analytics';
/** A heartbeat this far apart stays out of the measured phases. */
const QUIET_HEARTBEAT_MS = 60_000;
/** What a typical API client sends: kept in audit events (userAgent: 'keep', the default). */
const USER_AGENT = 'customers-sync/4.2.1 (node 20; linux x64)';

type Alg = 'HS256' | 'RS256' | 'ES256';

// ── Keys and tokens ──────────────────────────────────────────────────────────────────────────

interface Signer {
  readonly alg: Alg;
  readonly kid: string;
  /** What the token is signed with. */
  readonly privateKey: string | Buffer;
  /** What the warden verifies it with. */
  readonly verificationKey: Buffer | KeyObject;
}

function signers(): Record<Alg, Signer> {
  const secret = randomBytes(32);
  const rs = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const es = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = (key: typeof rs.privateKey) =>
    key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    HS256: { alg: 'HS256', kid: 'hs-1', privateKey: secret, verificationKey: secret },
    RS256: {
      alg: 'RS256',
      kid: 'rs-1',
      privateKey: pem(rs.privateKey),
      verificationKey: rs.publicKey,
    },
    ES256: {
      alg: 'ES256',
      kid: 'es-1',
      privateKey: pem(es.privateKey),
      verificationKey: es.publicKey,
    },
  };
}

/** A 15-minute access token of `subject`, as an authorization server would issue it. */
function mint(signer: Signer, subject: string): string {
  const iat = Math.floor(Date.now() / 1000) - 2;
  return jwt.sign(
    {
      iss: ISSUER,
      aud: AUDIENCE,
      sub: subject,
      client_id: 'customers-sync',
      jti: randomUUID(),
      scope: `${SCOPE} customers:write`,
      iat,
      exp: iat + 900,
    },
    signer.privateKey,
    { algorithm: signer.alg, keyid: signer.kid },
  );
}

function viewOf(token: string): RequestView {
  const authorization = [`Bearer ${token}`];
  const userAgent = [USER_AGENT];
  return {
    method: 'GET',
    path: '/customers/42',
    url: '/customers/42',
    route: '/customers/:id',
    ip: '203.0.113.7',
    headerValues: (name) =>
      name === 'authorization' ? authorization : name === 'user-agent' ? userAgent : undefined,
  };
}

// ── Redis counters ───────────────────────────────────────────────────────────────────────────

/** Commands of the measuring itself, left out of the counts. */
const OWN_COMMANDS = /^(info|config\|.*|config|monitor|hello|client\|.*|select|auth|command.*)$/;

interface Reading {
  readonly cpuMicros: number;
  readonly usedMemory: number;
}

/** What one server did during a phase, in total. */
interface ServerTotals {
  readonly commands: Record<string, number>;
  /** Time Redis spent executing each command (commandstats usec; a script's includes its calls). */
  readonly commandMicros: Record<string, number>;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly cpuMicros: number;
  readonly memoryBytes: number;
}

async function reading(server: RedisServer): Promise<Reading> {
  const cpu = await server.info('cpu');
  const memory = await server.info('memory');
  return {
    cpuMicros: Math.round((Number(cpu['used_cpu_sys']) + Number(cpu['used_cpu_user'])) * 1_000_000),
    usedMemory: Number(memory['used_memory']),
  };
}

async function startPhase(server: RedisServer): Promise<Reading> {
  await server.command('CONFIG', 'RESETSTAT');
  return reading(server);
}

async function endPhase(server: RedisServer, start: Reading): Promise<ServerTotals> {
  // Stats first: the replies of the other INFO sections would count as output bytes.
  const stats = await server.info('stats');
  const end = await reading(server);
  const commandstats = await server.info('commandstats');
  const commands: Record<string, number> = {};
  const commandMicros: Record<string, number> = {};
  for (const [field, value] of Object.entries(commandstats)) {
    const name = field.replace(/^cmdstat_/, '');
    if (OWN_COMMANDS.test(name)) continue;
    const calls = Number(/calls=(\d+)/.exec(value)?.[1] ?? 0);
    if (calls === 0) continue;
    commands[name] = calls;
    commandMicros[name] = Number(/usec=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return {
    commands,
    commandMicros,
    bytesIn: Number(stats['total_net_input_bytes']),
    bytesOut: Number(stats['total_net_output_bytes']),
    cpuMicros: end.cpuMicros - start.cpuMicros,
    memoryBytes: end.usedMemory - start.usedMemory,
  };
}

interface Servers {
  readonly store: RedisServer;
  readonly audit: RedisServer;
}

interface Totals {
  readonly seconds: number;
  readonly appCpuMicros: number;
  readonly store: ServerTotals;
  readonly audit: ServerTotals;
}

/** Runs `work` between two readings of both servers and of this process. */
async function measure(servers: Servers, work: () => Promise<void>): Promise<Totals> {
  const store0 = await startPhase(servers.store);
  const audit0 = await startPhase(servers.audit);
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    appCpuMicros: cpu.user + cpu.system,
    store: await endPhase(servers.store, store0),
    audit: await endPhase(servers.audit, audit0),
  };
}

/**
 * What the measuring costs Redis by itself: the counters' own commands (an empty phase) and the
 * server's background work (its cron), per second of a quiet phase.
 */
interface Baseline {
  readonly store: ServerBaseline;
  readonly audit: ServerBaseline;
}

interface ServerBaseline {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly cpuMicros: number;
  readonly cpuMicrosPerSecond: number;
}

const QUIET_SECONDS = 3;

async function baselineOf(servers: Servers): Promise<Baseline> {
  const empty = await measure(servers, async () => {});
  const quiet = await measure(servers, () => sleep(QUIET_SECONDS * 1000));
  const of = (e: ServerTotals, q: ServerTotals): ServerBaseline => ({
    bytesIn: e.bytesIn,
    bytesOut: e.bytesOut,
    cpuMicros: e.cpuMicros,
    cpuMicrosPerSecond: round(Math.max(0, q.cpuMicros - e.cpuMicros) / quiet.seconds, 1),
  });
  return { store: of(empty.store, quiet.store), audit: of(empty.audit, quiet.audit) };
}

/** Per-unit figures of one server. */
interface ServerUse {
  /** Commands run per unit, by name (inside Lua scripts included). */
  readonly commands: Record<string, number>;
  /** Execution time per unit of each command, µs (commandstats; a script's includes its calls). */
  readonly commandMicros: Record<string, number>;
  /** Commands clients sent per unit (MONITOR sample), i.e. round trips unless pipelined. */
  readonly sent?: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Redis CPU (user + system) per unit, µs, its background work subtracted. */
  readonly cpuMicros: number;
  /** used_memory growth per unit. */
  readonly memoryBytes: number;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

function perUnit(
  totals: ServerTotals,
  baseline: ServerBaseline,
  seconds: number,
  units: number,
): ServerUse {
  const commands: Record<string, number> = {};
  const commandMicros: Record<string, number> = {};
  for (const [name, calls] of Object.entries(totals.commands)) {
    commands[name] = round(calls / units, 4);
    commandMicros[name] = round((totals.commandMicros[name] ?? 0) / units, 3);
  }
  const background = baseline.cpuMicros + baseline.cpuMicrosPerSecond * seconds;
  return {
    commands,
    commandMicros,
    bytesIn: round(Math.max(0, totals.bytesIn - baseline.bytesIn) / units, 1),
    bytesOut: round(Math.max(0, totals.bytesOut - baseline.bytesOut) / units, 1),
    cpuMicros: round(Math.max(0, totals.cpuMicros - background) / units),
    memoryBytes: round(totals.memoryBytes / units, 1),
  };
}

/** Commands sent per unit by clients other than the measuring ones, while `work` runs. */
async function sentPerUnit(server: RedisServer, units: number, work: () => Promise<void>) {
  const client = new Redis(server.url, { lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  let sent = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    const name = String(args[0] ?? '').toLowerCase();
    if (!OWN_COMMANDS.test(name)) sent += 1;
  });
  await work();
  await sleep(200);
  monitor.disconnect();
  client.disconnect();
  return round(sent / units, 3);
}

// ── Driving ──────────────────────────────────────────────────────────────────────────────────

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `one(from)` … `one(from + count - 1)`, CONCURRENCY at a time. */
async function drive(from: number, count: number, one: (i: number) => Promise<void>) {
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) await one(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** Waits until the store's invalidation feed is live (the state cache is used only then). */
async function feedLive(store: RedisStore): Promise<void> {
  const feed = store.invalidations();
  const by = Date.now() + 15_000;
  while (!feed.isLive) {
    if (Date.now() > by) throw new Error('the invalidation feed did not become live in 15 s');
    await sleep(20);
  }
}

interface Setup {
  readonly servers: Servers;
  readonly signers: Record<Alg, Signer>;
  readonly fingerprintKey: Buffer;
  readonly subjects: readonly string[];
}

function wardenOf(
  setup: Setup,
  store: RedisStore,
  alg: Alg,
  extra: Partial<WardenOptions> = {},
  audit = true,
): Warden {
  const signer = setup.signers[alg];
  return createWarden({
    jwt: {
      algorithms: [alg],
      keys: [{ kid: signer.kid, alg, key: signer.verificationKey }],
      issuer: ISSUER,
      audience: AUDIENCE,
    },
    store,
    purposes: [PURPOSE],
    audit: {
      sinks: audit ? [new RedisStreamSink({ url: setup.servers.audit.url })] : [],
      fingerprintKey: setup.fingerprintKey,
      producer: 'capacity',
    },
    logger: { warn: () => {}, error: () => {} },
    ...extra,
  });
}

function storeOf(setup: Setup, heartbeatMs = QUIET_HEARTBEAT_MS): RedisStore {
  return new RedisStore({ url: setup.servers.store.url, heartbeatMs });
}

/** One measured phase of requests or changes. */
interface PhaseResult {
  readonly name: string;
  readonly unit: 'request' | 'change' | 'second';
  readonly units: number;
  readonly seconds: number;
  /** Application CPU per unit, µs (user + system). */
  readonly appCpuMicros: number;
  readonly store: ServerUse;
  readonly audit: ServerUse;
  /** Audit events of the measured units, by result (written, dropped…). */
  readonly auditEvents?: Record<string, number>;
  /** Requests refused (should be none). */
  readonly denied?: number;
  /** Subscribers on the invalidation channel during the phase. */
  readonly subscribers?: number;
  /** Invalidation messages the added subscribers received per change, each. */
  readonly deliveredPerSubscriber?: number;
}

interface PhaseSpec {
  readonly name: string;
  readonly unit: 'request' | 'change';
  readonly count: number;
  /** Runs unit `i` (0 … count + SAMPLE - 1; the last SAMPLE run under MONITOR). */
  readonly run: (i: number) => Promise<void>;
  /** Units run before the measurement (not counted). */
  readonly warmup?: number;
  readonly warden: Warden;
}

/** Audit events of a warden so far, by result (`tokenwarden_audit_events_total`). */
async function auditEvents(warden: Warden): Promise<Record<string, number>> {
  const text = await warden.metrics.render();
  const events: Record<string, number> = {};
  for (const match of text.matchAll(
    /^tokenwarden_audit_events_total\{[^}]*result="(\w+)"[^}]*\} (\S+)$/gm,
  )) {
    events[match[1]!] = (events[match[1]!] ?? 0) + Number(match[2]);
  }
  return events;
}

/** Runs units `from` … `from + count - 1`, flushing the audit trail every FLUSH_EVERY. */
async function chunked(spec: PhaseSpec, from: number, count: number): Promise<void> {
  for (let at = from; at < from + count; at += FLUSH_EVERY) {
    await drive(at, Math.min(FLUSH_EVERY, from + count - at), spec.run);
    await spec.warden.flushAudit();
  }
}

async function phase(
  setup: Setup,
  baseline: Baseline,
  spec: PhaseSpec,
  extra: Partial<PhaseResult> = {},
): Promise<PhaseResult> {
  if (spec.warmup) await chunked(spec, 0, spec.warmup);
  const from = spec.warmup ?? 0;
  const before = await auditEvents(spec.warden);
  const totals = await measure(setup.servers, () => chunked(spec, from, spec.count));
  const after = await auditEvents(spec.warden);
  const sent = await sentPerUnit(setup.servers.store, SAMPLE, () =>
    chunked(spec, from + spec.count, SAMPLE),
  );
  const events: Record<string, number> = {};
  for (const [result, count] of Object.entries(after)) {
    const grown = count - (before[result] ?? 0);
    if (grown > 0) events[result] = grown;
  }
  return {
    name: spec.name,
    unit: spec.unit,
    units: spec.count,
    seconds: round(totals.seconds),
    appCpuMicros: round(totals.appCpuMicros / spec.count, 1),
    store: { ...perUnit(totals.store, baseline.store, totals.seconds, spec.count), sent },
    audit: perUnit(totals.audit, baseline.audit, totals.seconds, spec.count),
    auditEvents: events,
    ...extra,
  };
}

// ── Request phases ───────────────────────────────────────────────────────────────────────────

type RequestKind = 'warm' | 'warm, no audit sink' | 'state cache off' | 'never-seen token';

async function requestPhase(
  setup: Setup,
  baseline: Baseline,
  kind: RequestKind,
  alg: Alg,
): Promise<PhaseResult> {
  const store = storeOf(setup);
  const options: Partial<WardenOptions> =
    kind === 'state cache off' ? { cache: { state: false } } : {};
  const warden = wardenOf(setup, store, alg, options, kind !== 'warm, no audit sink');
  const requirement: Requirement = warden.requirement({
    scopes: [SCOPE],
    consent: { purpose: PURPOSE },
  });
  if (kind !== 'state cache off') await feedLive(store);
  const signer = setup.signers[alg];
  const cold = kind === 'never-seen token';
  const count = cold ? COLD_N : N;
  const warmup = cold ? 0 : 2 * POOL;
  // A pool of tokens used over and over, or one new token per request (signed beforehand).
  const views = Array.from({ length: cold ? COLD_N + SAMPLE : POOL }, (_, i) =>
    viewOf(mint(signer, setup.subjects[i % POOL]!)),
  );
  let denied = 0;
  const run = async (i: number) => {
    const decision = await warden.check(views[i % views.length]!, requirement);
    if (decision.outcome !== 'allow') denied += 1;
  };
  try {
    const name = cold ? `${kind} (${alg})` : kind;
    const result = await phase(setup, baseline, {
      name,
      unit: 'request',
      count,
      run,
      warmup,
      warden,
    });
    return { ...result, denied };
  } finally {
    await warden.close();
    await store.close();
  }
}

// ── Change phases ────────────────────────────────────────────────────────────────────────────

type ChangeKind = 'revokeToken' | 'revokeSubject' | 'grantConsent' | 'withdrawConsent';

async function changePhase(
  setup: Setup,
  baseline: Baseline,
  kind: ChangeKind,
  subscribers: number,
): Promise<PhaseResult> {
  const store = storeOf(setup);
  const warden = wardenOf(setup, store, 'HS256');
  await feedLive(store);
  // Other nodes: plain subscribers of every channel the warden's store listens on but its own
  // heartbeat channel, i.e. the invalidation channel.
  const channels = ((await setup.servers.store.command('PUBSUB', 'CHANNELS')) as string[]).filter(
    (channel) => !channel.includes(':hb:'),
  );
  if (channels.length !== 1)
    throw new Error(`expected one invalidation channel, saw ${channels.length}`);
  const others: Redis[] = [];
  let delivered = 0;
  for (let s = 0; s < subscribers; s++) {
    const client = new Redis(setup.servers.store.url);
    await client.subscribe(channels[0]!);
    client.on('message', () => {
      delivered += 1;
    });
    others.push(client);
  }
  const ids = Array.from({ length: CHANGES + SAMPLE }, () => randomUUID());
  // A withdrawal changes a record that exists: grant first, outside the measurement.
  if (kind === 'withdrawConsent') {
    await drive(0, ids.length, async (i) => {
      await warden.grantConsent({ subject: ids[i]!, purpose: PURPOSE });
    });
    await warden.flushAudit();
    await sleep(100);
    delivered = 0;
  }
  const run = async (i: number) => {
    const id = ids[i]!;
    if (kind === 'revokeToken') await warden.revokeToken(id, { reason: 'leaked' });
    else if (kind === 'revokeSubject') await warden.revokeSubject(id, { reason: 'offboarded' });
    else if (kind === 'grantConsent') await warden.grantConsent({ subject: id, purpose: PURPOSE });
    else await warden.withdrawConsent({ subject: id, purpose: PURPOSE });
  };
  try {
    const result = await phase(setup, baseline, {
      name: `${kind}, ${subscribers + 1} subscriber${subscribers === 0 ? '' : 's'}`,
      unit: 'change',
      count: CHANGES,
      run,
      warden,
    });
    return {
      ...result,
      subscribers: subscribers + 1,
      ...(subscribers > 0
        ? { deliveredPerSubscriber: round(delivered / subscribers / (CHANGES + SAMPLE), 3) }
        : {}),
    };
  } finally {
    for (const client of others) client.disconnect();
    await warden.close();
    await store.close();
  }
}

/** A node doing nothing: its heartbeat (default interval) and its subscription. */
async function idlePhase(setup: Setup, baseline: Baseline): Promise<PhaseResult> {
  const store = new RedisStore({ url: setup.servers.store.url });
  const warden = wardenOf(setup, store, 'HS256');
  await feedLive(store);
  await sleep(1_000);
  try {
    const totals = await measure(setup.servers, () => sleep(IDLE_SECONDS * 1000));
    return {
      name: 'idle node (heartbeat every 250 ms)',
      unit: 'second',
      units: IDLE_SECONDS,
      seconds: round(totals.seconds),
      appCpuMicros: round(totals.appCpuMicros / totals.seconds, 1),
      store: perUnit(totals.store, baseline.store, totals.seconds, totals.seconds),
      audit: perUnit(totals.audit, baseline.audit, totals.seconds, totals.seconds),
    };
  } finally {
    await warden.close();
    await store.close();
  }
}

// ── Memory ───────────────────────────────────────────────────────────────────────────────────

interface MemoryKind {
  readonly kind: 'consent record' | 'subject mark' | 'revoked token id';
  readonly count: number;
  /** used_memory growth per entry (bytes), and at each quarter of the writes. */
  readonly bytesPerEntry: number;
  /** The same after 1/4, 2/4, 3/4 and all of the writes, by entries written. */
  readonly bytesPerEntryByQuarter: Readonly<Record<string, number>>;
  /** Mean `MEMORY USAGE` of a sample of the keys (key, value, expiry; no dict buckets). */
  readonly memoryUsagePerKey: number;
  /** The key's shape, ids replaced by placeholders. */
  readonly key: string;
}

async function usedMemory(server: RedisServer): Promise<number> {
  return Number((await server.info('memory'))['used_memory']);
}

/** Writes `count` entries of one kind through `write(i)` and reads what they cost. */
async function memoryOf(
  server: RedisServer,
  kind: MemoryKind['kind'],
  count: number,
  ids: readonly string[],
  placeholder: string,
  write: (i: number) => Promise<void>,
): Promise<MemoryKind> {
  // Keys holding the first id already (a subject's consent record, when its mark is written).
  const keysOf = async (id: string) => {
    const [, keys] = (await server.command(
      'SCAN',
      '0',
      'MATCH',
      `*${id}*`,
      'COUNT',
      String(10 * count + 100_000),
    )) as [string, string[]];
    return keys;
  };
  const existing = new Set(await keysOf(ids[0]!));
  const before = await usedMemory(server);
  const quarters: number[] = [];
  for (let q = 0; q < 4; q++) {
    const from = Math.floor((q * count) / 4);
    await drive(from, Math.floor(((q + 1) * count) / 4) - from, write);
    quarters.push(round((await usedMemory(server)) - before, 0));
  }
  const grown = quarters[3]!;
  // The key's shape, from the first id; then MEMORY USAGE of up to 200 of the keys.
  const key = (await keysOf(ids[0]!)).find((k) => !existing.has(k));
  const shape = key?.split(ids[0]!).join(placeholder) ?? '';
  let usage = 0;
  let sampled = 0;
  for (let i = 0; i < Math.min(200, count) && shape !== ''; i++) {
    const bytes = await server.command(
      'MEMORY',
      'USAGE',
      shape.split(placeholder).join(ids[i]!),
      'SAMPLES',
      '0',
    );
    if (typeof bytes !== 'number') continue;
    usage += bytes;
    sampled += 1;
  }
  return {
    kind,
    count,
    bytesPerEntry: round(grown / count, 1),
    bytesPerEntryByQuarter: Object.fromEntries(
      quarters.map((bytes, q) => {
        const written = ((q + 1) * count) / 4;
        return [String(written), round(bytes / written, 1)];
      }),
    ),
    memoryUsagePerKey: round(usage / Math.max(1, sampled), 1),
    key: shape,
  };
}

interface MemoryResult {
  readonly subjects: number;
  readonly kinds: readonly MemoryKind[];
  /** used_memory of the empty server. */
  readonly emptyServerBytes: number;
  /** A consent record and a subject mark: bytes per subject. */
  readonly bytesPerSubject: number;
}

async function memoryPhase(): Promise<MemoryResult> {
  const server = await RedisServer.start();
  const store = new RedisStore({ url: server.url });
  const admin = createAdmin({ store, purposes: [PURPOSE] });
  try {
    const empty = await usedMemory(server);
    const subjects = Array.from({ length: SUBJECTS }, () => randomUUID());
    const tokens = Array.from({ length: Math.floor(SUBJECTS / 10) }, () => randomUUID());
    const consent = await memoryOf(server, 'consent record', SUBJECTS, subjects, '<subject>', (i) =>
      admin.grantConsent({ subject: subjects[i]!, purpose: PURPOSE }).then(() => undefined),
    );
    const marks = await memoryOf(server, 'subject mark', SUBJECTS, subjects, '<subject>', (i) =>
      admin.revokeSubject(subjects[i]!),
    );
    const revoked = await memoryOf(
      server,
      'revoked token id',
      tokens.length,
      tokens,
      '<jti>',
      (i) => admin.revokeToken(tokens[i]!),
    );
    return {
      subjects: SUBJECTS,
      kinds: [consent, marks, revoked],
      emptyServerBytes: empty,
      bytesPerSubject: round(consent.bytesPerEntry + marks.bytesPerEntry, 1),
    };
  } finally {
    await admin.close();
    await store.close();
    await server.dispose();
  }
}

/** The consent records again, on a one-node Redis Cluster. */
async function clusterMemoryPhase(): Promise<MemoryKind> {
  const server = await RedisServer.start({ cluster: true });
  const cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], {
    enableOfflineQueue: true,
    redisOptions: { commandTimeout: 2_000 },
  });
  const store = new RedisStore({ client: cluster });
  const admin = createAdmin({ store, purposes: [PURPOSE] });
  try {
    const subjects = Array.from({ length: SUBJECTS }, () => randomUUID());
    await admin.grantConsent({ subject: randomUUID(), purpose: PURPOSE });
    return await memoryOf(server, 'consent record', SUBJECTS, subjects, '<subject>', (i) =>
      admin.grantConsent({ subject: subjects[i]!, purpose: PURPOSE }).then(() => undefined),
    );
  } finally {
    await admin.close();
    await store.close();
    cluster.disconnect();
    await server.dispose();
  }
}

// ── Report ───────────────────────────────────────────────────────────────────────────────────

const sum = (commands: Record<string, number>) =>
  Object.values(commands).reduce((total, calls) => total + calls, 0);

function printPhases(rows: readonly PhaseResult[]): void {
  const header = [
    'phase'.padEnd(38),
    'sent'.padStart(6),
    'run'.padStart(6),
    'in B'.padStart(7),
    'out B'.padStart(7),
    'cpu µs'.padStart(7),
    '│ aud in B'.padStart(10),
    'aud µs'.padStart(7),
    '│ app µs'.padStart(9),
  ].join(' ');
  console.log(`\nper unit        store Redis                            audit Redis         app`);
  console.log(header);
  for (const row of rows) {
    console.log(
      [
        `${row.name} /${row.unit}`.padEnd(38),
        String(row.store.sent ?? '').padStart(6),
        sum(row.store.commands).toFixed(2).padStart(6),
        row.store.bytesIn.toFixed(0).padStart(7),
        row.store.bytesOut.toFixed(0).padStart(7),
        row.store.cpuMicros.toFixed(2).padStart(7),
        `│ ${row.audit.bytesIn.toFixed(0)}`.padStart(10),
        row.audit.cpuMicros.toFixed(2).padStart(7),
        `│ ${row.appCpuMicros.toFixed(1)}`.padStart(9),
      ].join(' '),
    );
  }
  console.log(
    'sent: commands clients sent (MONITOR sample); run: commands executed, inside scripts included',
  );
}

function printMemory(memory: MemoryResult, cluster: MemoryKind): void {
  console.log(`\nmemory, ${memory.subjects} subjects (used_memory growth per entry)`);
  for (const kind of [...memory.kinds, { ...cluster, kind: 'consent record, cluster mode' }]) {
    console.log(
      `${kind.kind.padEnd(30)} ${String(kind.count).padStart(7)} × ${kind.bytesPerEntry
        .toFixed(1)
        .padStart(6)} B   (MEMORY USAGE ${kind.memoryUsagePerKey} B)   ${kind.key}`,
    );
  }
  console.log(`per subject (consent record + subject mark): ${memory.bytesPerSubject} B`);
}

/**
 * The commit measured, and the package sources that differed from it (one string: the results
 * file holds no arrays of plain values, which Prettier would lay out otherwise than JSON.stringify).
 */
function gitState(): { commit: string; uncommitted: string } {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trimEnd();
  try {
    const status = git('status', '--porcelain', '--', 'packages');
    return {
      commit: git('rev-parse', 'HEAD'),
      uncommitted:
        status === ''
          ? ''
          : status
              .split('\n')
              .map((line) => line.slice(3))
              .join(', '),
    };
  } catch {
    return { commit: 'unknown', uncommitted: '' };
  }
}

async function main(): Promise<void> {
  const load = round(loadavg()[0]!, 2);
  const servers: Servers = { store: await RedisServer.start(), audit: await RedisServer.start() };
  const version = (await servers.store.info('server'))['redis_version'];
  try {
    const setup: Setup = {
      servers,
      signers: signers(),
      fingerprintKey: randomBytes(32),
      subjects: Array.from({ length: POOL }, () => randomUUID()),
    };
    // Consent for every subject of the token pool, as a consent form would have recorded it.
    const setupStore = storeOf(setup);
    const admin = createAdmin({ store: setupStore, purposes: [PURPOSE] });
    await drive(0, POOL, async (i) => {
      await admin.grantConsent({ subject: setup.subjects[i]!, purpose: PURPOSE });
    });
    await admin.close();
    await setupStore.close();

    const baseline = await baselineOf(servers);
    const rows: PhaseResult[] = [];
    const log = (row: PhaseResult) => {
      rows.push(row);
      console.log(`  ${row.name}: ${row.units} ${row.unit}s in ${row.seconds} s`);
    };
    log(await requestPhase(setup, baseline, 'warm', 'HS256'));
    log(await requestPhase(setup, baseline, 'warm, no audit sink', 'HS256'));
    log(await requestPhase(setup, baseline, 'state cache off', 'HS256'));
    for (const alg of ['HS256', 'RS256', 'ES256'] as const) {
      log(await requestPhase(setup, baseline, 'never-seen token', alg));
    }
    for (const kind of [
      'revokeToken',
      'revokeSubject',
      'grantConsent',
      'withdrawConsent',
    ] as const) {
      log(await changePhase(setup, baseline, kind, 0));
      log(await changePhase(setup, baseline, kind, EXTRA_SUBSCRIBERS));
    }
    log(await idlePhase(setup, baseline));
    const denied = rows.reduce((total, row) => total + (row.denied ?? 0), 0);
    const dropped = rows.reduce((total, row) => total + (row.auditEvents?.['dropped'] ?? 0), 0);
    printPhases(rows);

    console.log(`\nmemory: ${SUBJECTS} subjects…`);
    const memory = await memoryPhase();
    const cluster = await clusterMemoryPhase();
    printMemory(memory, cluster);

    const perMillion = memory.bytesPerSubject * 1_000_000;
    writeResult('capacity.json', {
      date: new Date().toISOString(),
      machine: { ...machineInfo(), loadAverage: load, redis: version },
      command: 'pnpm bench:capacity',
      source: gitState(),
      settings: {
        requests: N,
        coldRequests: COLD_N,
        changes: CHANGES,
        subjects: SUBJECTS,
        concurrency: CONCURRENCY,
        addedSubscribers: EXTRA_SUBSCRIBERS,
        monitorSample: SAMPLE,
        tokenPool: POOL,
        requirement: { scope: SCOPE, consent: PURPOSE },
        heartbeatMsDuringPhases: QUIET_HEARTBEAT_MS,
        audit: 'RedisStreamSink on its own Redis, async mode, default batching',
      },
      measured: { baseline, phases: rows, memory: { ...memory, cluster } },
      extrapolated: {
        note: 'used_memory growth per entry at the measured count, times the count; dict bucket arrays grow in powers of two, so a real figure lies within about ±10 B per key of this',
        bytesPerMillionSubjects: Math.round(perMillion),
        bytesPerTenMillionSubjects: Math.round(perMillion * 10),
        clusterBytesPerMillionConsentRecords: Math.round(cluster.bytesPerEntry * 1_000_000),
      },
    });
    if (dropped > 0) {
      console.error(`\n${dropped} audit events were dropped; the audit figures are too low`);
      process.exitCode = 1;
    }
    if (denied > 0) {
      console.error(`\n${denied} requests were refused; the figures are not of allowed requests`);
      process.exitCode = 1;
    }
  } finally {
    await servers.store.dispose();
    await servers.audit.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
