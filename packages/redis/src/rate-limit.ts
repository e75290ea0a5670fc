import { createHash } from 'node:crypto';
import {
  ConfigError,
  StoreUnavailableError,
  type Clock,
  type LimitCheck,
  type LimitState,
  type UsageLimiter,
} from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, unavailable, startDeadline } from './client';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX, KeySpace, encodeId } from './keys';

/** Options shared by {@link RedisUsageLimiter} and `RedisReplayCache`. Pass exactly one of `url` and `client`. */
export interface RedisCounterOptions {
  /**
   * A `redis://` or `rediss://` URL: a fail-fast client is opened (no offline queue, one retry,
   * `commandTimeout`) and closed in `close()`. Mutually exclusive with `client`.
   */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` you own (for example the one your `RedisStore` uses). Used as
   * is and never closed. Mutually exclusive with `url`.
   */
  client?: Redis | Cluster;
  /**
   * Prefix of every key. Without braces the `{tw}` hash tag is appended (`tokenwarden:{tw}:`), so
   * the keys one call touches share a cluster slot. Default: `'tokenwarden:'`.
   */
  prefix?: string;
  /** Deadline of each call, in ms, including the wait for a (re)connecting client. Default: 200. */
  commandTimeoutMs?: number;
  /** Longest key, in bytes; longer ids are replaced by their SHA-256. Default: 256. */
  maxKeyLength?: number;
  /**
   * Time source. Default: none, and then the Redis server's own `TIME` is used, so every node
   * counts on one clock however far their own clocks drift.
   */
  clock?: Clock;
}

/** The client members used here; `Redis` and `Cluster` both have them. */
interface ClientView {
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  set(...args: (string | number)[]): Promise<unknown>;
  once(event: 'ready', listener: () => void): unknown;
  removeListener(event: 'ready', listener: () => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

const CONNECTING = new Set(['connecting', 'connect', 'reconnecting']);
const MAX_COMMAND_TIMEOUT_MS = 60_000;

/**
 * A Redis connection with one deadline per call and every failure turned into
 * `StoreUnavailableError`. Shared by the usage limiter and the replay cache.
 *
 * @internal
 */
export class RedisCaller {
  readonly #client: ClientView;
  readonly keys: KeySpace;
  readonly clock: Clock | undefined;
  private readonly owned: boolean;
  private readonly timeoutMs: number;
  private readonly maxKeyLength: number;
  private closing: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;

  constructor(options: RedisCounterOptions, what: string) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`${what} needs an options object with 'url' or 'client'`);
    }
    const { url, client } = options;
    if ((url === undefined) === (client === undefined)) {
      throw new ConfigError(
        `${what} needs exactly one of 'url' (a redis:// or rediss:// URL) and 'client' (an ioredis Redis or Cluster)`,
      );
    }
    this.timeoutMs = options.commandTimeoutMs ?? 200;
    if (
      !Number.isSafeInteger(this.timeoutMs) ||
      this.timeoutMs <= 0 ||
      this.timeoutMs > MAX_COMMAND_TIMEOUT_MS
    ) {
      throw new ConfigError(
        `${what} option 'commandTimeoutMs' must be an integer from 1 to ${MAX_COMMAND_TIMEOUT_MS}`,
      );
    }
    this.maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
    this.keys = new KeySpace(options.prefix ?? DEFAULT_PREFIX, this.maxKeyLength);
    if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
      throw new ConfigError(`${what} option 'clock' must have a now() method`);
    }
    this.clock = options.clock;
    if (client !== undefined) {
      const view = client as unknown as Partial<ClientView> | null;
      if (typeof view?.defineCommand !== 'function' || typeof view.set !== 'function') {
        throw new ConfigError(`${what} option 'client' must be an ioredis Redis or Cluster`);
      }
      this.#client = view as ClientView;
      this.owned = false;
    } else {
      this.#client = openClient(
        url,
        this.timeoutMs,
        (err) => {
          this.lastConnectionError = err;
        },
        `${what} option 'url'`,
      ) as unknown as ClientView;
      this.owned = true;
    }
  }

  /** Defines a script command (EVALSHA, falling back to EVAL on NOSCRIPT). */
  define(name: string, lua: string, numberOfKeys?: number): void {
    this.#client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  }

  /**
   * The key `<base><kind><encoded id>`; when longer than `maxKeyLength` bytes, the encoded id is
   * replaced by `#` and its SHA-256 (`#` never occurs in an encoded id).
   */
  key(kind: string, id: string): string {
    const encoded = encodeId(id);
    const key = `${this.keys.base}${kind}${encoded}`;
    if (Buffer.byteLength(key) <= this.maxKeyLength) return key;
    return `${this.keys.base}${kind}#${createHash('sha256').update(encoded).digest('hex')}`;
  }

  /** Sends one call under the deadline; every failure becomes `StoreUnavailableError`. */
  async run<T>(
    operation: string,
    send: (client: ClientView) => Promise<unknown>,
    parse: (reply: unknown) => T,
  ): Promise<T> {
    if (this.closing !== undefined) {
      throw new StoreUnavailableError(`the Redis connection is closed; ${operation} was not sent`);
    }
    let ready: (() => void) | undefined;
    const deadline = startDeadline(operation, this.timeoutMs, () =>
      this.#client.status === 'ready' ? undefined : this.lastConnectionError,
    );
    try {
      let sent: Promise<unknown>;
      if (CONNECTING.has(this.#client.status)) {
        // Wait for the connection within the same deadline instead of failing at once.
        sent = new Promise<void>((resolve) => {
          ready = resolve;
          this.#client.once('ready', resolve);
        }).then(() => {
          if (deadline.passed) throw new StoreUnavailableError(`Redis did not answer ${operation}`);
          return send(this.#client);
        });
      } else {
        sent = send(this.#client);
      }
      return parse(await Promise.race([sent, deadline.promise]));
    } catch (err) {
      throw unavailable(operation, err);
    } finally {
      deadline.clear();
      if (ready !== undefined) this.#client.removeListener('ready', ready);
    }
  }

  /** Quits the client if it was opened here; a client passed in stays open. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.owned) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          this.#client.quit(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, this.timeoutMs);
          }),
        ]);
      } catch {
        // Not connected: disconnect() below is all that is left.
      } finally {
        clearTimeout(timer);
        this.#client.disconnect();
      }
    })();
    return this.closing;
  }

  /** `now` for a script: the clock's epoch ms, or '' to let the script read Redis `TIME`. */
  nowArg(): string {
    if (this.clock === undefined) return '';
    const now = this.clock.now();
    if (!Number.isFinite(now)) throw new RangeError('clock.now() must be finite');
    return String(Math.floor(now));
  }
}

/** The custom command name; namespaced because it is defined on a client the user may own. */
const LIMIT_COMMAND = 'tokenwardenLimit';

/**
 * Counts one use against several counters, all or nothing, in one atomic script. The arithmetic
 * is the same as core's `evaluateSliding` / `evaluateBucket`; keep them in step.
 *
 * KEYS: one hash per counter, all in one hash-tag slot.
 * ARGV: 1 now (epoch ms, or '' to read the server's TIME), 2 cost, then per counter three values:
 *   algorithm ('s' sliding window | 'b' token bucket), limit, window (ms).
 * Reply: four strings per counter: allowed ('1' | '0'), remaining, resetMs, retryAfterMs.
 */
export const LIMIT_LUA = `
-- The caller's clock when given, else the server's, so every node counts on one clock.
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local cost = tonumber(ARGV[2])
-- Floats are written with 17 significant digits so nothing is lost between calls.
local function num(x)
  return string.format('%.17g', x)
end
local results = {}
local all = true
for i = 1, #KEYS do
  local algo = ARGV[3 * i]
  local limit = tonumber(ARGV[3 * i + 1])
  local window = tonumber(ARGV[3 * i + 2])
  local r = {}
  if algo == 's' then
    -- Sliding window: the current fixed window's count plus the previous one's, weighted by
    -- how much of the previous window the sliding window still covers.
    local h = redis.call('HMGET', KEYS[i], 'ws', 'cur', 'prev')
    local ws = math.floor(now / window) * window
    local cur, prev = 0, 0
    local stored = tonumber(h[1])
    if stored == ws then
      cur = tonumber(h[2]) or 0
      prev = tonumber(h[3]) or 0
    elseif stored == ws - window then
      -- The stored window just ended: its count becomes the previous one.
      prev = tonumber(h[2]) or 0
    end
    local untilEnd = window - (now - ws)
    local count = prev * untilEnd / window + cur
    r.reset = untilEnd
    r.ttl = 2 * window
    r.write = { 'ws', num(ws), 'cur', num(cur + cost), 'prev', num(prev) }
    if count + cost <= limit then
      r.allowed = 1
      r.remaining = math.max(0, math.floor(limit - count - cost))
      r.retry = 0
    else
      r.allowed = 0
      r.remaining = math.max(0, math.floor(limit - count))
      local retry
      if cost > limit then
        retry = 2 * window
      elseif cur + cost <= limit and prev > 0 then
        -- The previous window's weight fades enough before this window ends.
        retry = untilEnd - window * (limit - cur - cost) / prev
      else
        -- Wait for the next window, where this window's count fades in turn.
        local into = 0
        if cur > 0 then
          into = window - window * (limit - cost) / cur
        end
        retry = untilEnd + math.max(0, into)
      end
      r.retry = math.max(1, math.ceil(retry))
    end
  else
    -- Token bucket: 'limit' tokens, refilled at limit per window, never above 'limit'.
    local h = redis.call('HMGET', KEYS[i], 'tokens', 'at')
    local rate = limit / window
    local tokens = limit
    local st, sat = tonumber(h[1]), tonumber(h[2])
    if st and sat then
      tokens = math.min(limit, st + math.max(0, now - sat) * rate)
    end
    if tokens >= cost then
      local left = tokens - cost
      r.allowed = 1
      r.remaining = math.floor(left)
      r.reset = math.ceil((limit - left) / rate)
      r.retry = 0
      r.write = { 'tokens', num(left), 'at', num(now) }
    else
      r.allowed = 0
      r.remaining = math.floor(tokens)
      r.reset = math.ceil((limit - tokens) / rate)
      if cost > limit then
        r.retry = 2 * window
      else
        r.retry = math.max(1, math.ceil((cost - tokens) / rate))
      end
    end
    -- Once full again the bucket is as good as absent.
    r.ttl = r.reset + 1000
  end
  if r.allowed == 0 then
    all = false
  end
  results[i] = r
end
-- All or nothing: a refused call writes nothing, so it drains no budget.
if all then
  for i = 1, #KEYS do
    redis.call('HSET', KEYS[i], unpack(results[i].write))
    redis.call('PEXPIRE', KEYS[i], results[i].ttl)
  end
end
-- Strings only: a nil would cut the reply short.
local reply = {}
for i = 1, #KEYS do
  local r = results[i]
  reply[#reply + 1] = tostring(r.allowed)
  reply[#reply + 1] = string.format('%d', r.remaining)
  reply[#reply + 1] = string.format('%d', r.reset)
  reply[#reply + 1] = string.format('%d', r.retry)
end
return reply
`;

const ALGO_CODE = { 'sliding-window': 's', 'token-bucket': 'b' } as const;
const KIND_CODE = { token: 't', 'api-key': 'k', client: 'c', subject: 's' } as const;
/** Most counters one call may touch (a script's keys all stay in one slot). */
const MAX_CHECKS = 16;

/**
 * Per-credential usage counters in Redis, shared by every node: one Lua script per request, atomic
 * over all the rules it applies (all count, or none does), so concurrent requests on several
 * nodes never let more than the limit through. Keys share the prefix's hash tag, so it works on
 * Redis Cluster; counters expire by themselves (PEXPIRE) once they are back to full.
 *
 * Keys: `<base>lim:<rule>:<algorithm s|b>:<kind t|k|c|s>:<encoded id>`.
 *
 * @example
 * import { RedisUsageLimiter } from '@tokenwarden/redis';
 * const limits = new UsageLimits({
 *   rules: [{ name: 'per-token', by: 'token', limit: 100, windowMs: 60_000 }],
 *   limiter: new RedisUsageLimiter({ client: redis, prefix: 'billing-api:' }),
 * });
 */
export class RedisUsageLimiter implements UsageLimiter {
  private readonly caller: RedisCaller;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCounterOptions) {
    this.caller = new RedisCaller(options, 'RedisUsageLimiter');
    this.caller.define(LIMIT_COMMAND, LIMIT_LUA);
  }

  /** Counts one use of weight `cost` against every check, all or nothing, in one script. */
  async consume(checks: readonly LimitCheck[], cost: number): Promise<readonly LimitState[]> {
    if (checks.length === 0 || checks.length > MAX_CHECKS) {
      throw new TypeError(`RedisUsageLimiter: pass 1 to ${MAX_CHECKS} checks`);
    }
    if (!Number.isSafeInteger(cost) || cost <= 0) {
      throw new TypeError('RedisUsageLimiter: cost must be a positive integer');
    }
    const keys: string[] = [];
    const args: string[] = [];
    for (const check of checks) {
      const algo = (ALGO_CODE as Record<string, string | undefined>)[check.algorithm];
      const kind = (KIND_CODE as Record<string, string | undefined>)[check.kind];
      if (algo === undefined || kind === undefined || !/^[A-Za-z0-9_.-]{1,64}$/.test(check.rule)) {
        throw new TypeError(
          'RedisUsageLimiter: a check has an unknown algorithm, kind or rule name',
        );
      }
      if (
        !Number.isSafeInteger(check.limit) ||
        check.limit <= 0 ||
        !Number.isSafeInteger(check.windowMs) ||
        check.windowMs <= 0
      ) {
        throw new TypeError('RedisUsageLimiter: limit and windowMs must be positive integers');
      }
      if (typeof check.id !== 'string')
        throw new TypeError('RedisUsageLimiter: id must be a string');
      keys.push(this.caller.key(`lim:${check.rule}:${algo}:${kind}:`, check.id));
      args.push(algo, String(check.limit), String(check.windowMs));
    }
    const now = this.caller.nowArg();
    return this.caller.run(
      'consume',
      (client) =>
        (client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
          LIMIT_COMMAND
        ]!(keys.length, ...keys, now, String(cost), ...args),
      (reply) => parseStates(reply, checks.length, cost),
    );
  }

  /** Quits the client if the limiter opened it from `url`. Idempotent. */
  close(): Promise<void> {
    return this.caller.close();
  }
}

function parseStates(reply: unknown, count: number, cost: number): LimitState[] {
  if (!Array.isArray(reply) || reply.length !== 4 * count) {
    throw new StoreUnavailableError('Redis gave an unexpected reply to consume');
  }
  const numbers = reply.map((value: unknown) => {
    if (typeof value !== 'string' || !/^-?\d{1,16}$/.test(value)) {
      throw new StoreUnavailableError('Redis gave an unexpected reply to consume');
    }
    return Number(value);
  });
  const states: LimitState[] = [];
  for (let i = 0; i < count; i += 1) {
    const [allowed, remaining, resetMs, retryAfterMs] = numbers.slice(4 * i, 4 * i + 4) as [
      number,
      number,
      number,
      number,
    ];
    states.push({ allowed: allowed === 1, remaining, resetMs, retryAfterMs });
  }
  // In a refused call nothing was consumed: counters that had room keep their `cost`.
  if (states.some((s) => !s.allowed)) {
    return states.map((s) => (s.allowed ? { ...s, remaining: s.remaining + cost } : s));
  }
  return states;
}
