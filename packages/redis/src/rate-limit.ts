import {
  StoreUnavailableError,
  type LimitCheck,
  type LimitState,
  type UsageLimiter,
} from '@tokenwarden/core/internal';
import { openCounters, type Counters, type RedisCounterOptions } from './counters';
import { COMMANDS, LIMIT_SCRIPT, type ScriptCalls } from './scripts';
import { nowArg } from './values';

/** The limiter's script command. */
type LimitClient = ScriptCalls<typeof COMMANDS.limit>;

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
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #counters: Counters<LimitClient>;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisCounterOptions) {
    this.#counters = openCounters<LimitClient>(options, 'RedisUsageLimiter');
    this.#counters.connection.define([LIMIT_SCRIPT]);
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
      keys.push(this.#counters.keys.key(`lim:${check.rule}:${algo}:${kind}:`, check.id));
      args.push(algo, String(check.limit), String(check.windowMs));
    }
    const { clock, connection } = this.#counters;
    // '' lets the script read the server's TIME, so every node counts on one clock.
    const now = clock === undefined ? '' : nowArg(clock.now(), 'RedisUsageLimiter');
    return connection.run(
      'consume',
      (redis) => redis[COMMANDS.limit](String(keys.length), ...keys, now, String(cost), ...args),
      (reply) => parseStates(reply, checks.length, cost),
    );
  }

  /** Quits the client if the limiter opened it from `url`. Idempotent. */
  close(): Promise<void> {
    return this.#counters.connection.close();
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
