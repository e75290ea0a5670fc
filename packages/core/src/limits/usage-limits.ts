import { ConfigError } from '../errors';
import { callerKey } from './caller';
import { MemoryUsageLimiter } from './memory-limiter';
import type { CredentialKind, LimitAlgorithm, LimitCheck, LimitState, UsageLimiter } from './types';

/** One usage limit, as configured. */
export interface LimitRule {
  /**
   * Names the rule in `RateLimit-Policy`, metrics labels, audit events and counter keys:
   * 1 to 64 characters of `[A-Za-z0-9_.-]`, unique.
   */
  readonly name: string;
  /**
   * Which identity the rule counts against; a request without that identity skips the rule (one
   * with an id longer than 1024 characters is refused, never skipped).
   */
  readonly by: CredentialKind;
  /** Uses allowed per window: a positive integer. */
  readonly limit: number;
  /** The window, in ms: an integer of at least 1000. */
  readonly windowMs: number;
  /** Counting algorithm. Default: `'sliding-window'`. */
  readonly algorithm?: LimitAlgorithm;
}

/** Options of {@link UsageLimits}. */
export interface UsageLimitsOptions {
  /** The rules applied to every request unless a route names its own. At least one. */
  readonly rules: readonly LimitRule[];
  /** Where counters live. Default: a new `MemoryUsageLimiter` (one process only). */
  readonly limiter?: UsageLimiter;
  /**
   * What a request gets when the limiter cannot answer: `'closed'` refuses it (503
   * `store_unavailable`), `'open'` lets it through uncounted. Default: `'closed'`.
   */
  readonly failMode?: 'closed' | 'open';
  /** Send `RateLimit` and `RateLimit-Policy` on allowed responses too. Default: true. */
  readonly headers?: boolean;
}

/**
 * The identities of the caller a rule may count against; absent ones skip their rules. The
 * client and subject also name the caller whose share of a bounded limiter new counters take.
 */
export interface CredentialIds {
  /** The token id (`jti`). */
  readonly tokenId?: string;
  /** The API key id (never the key itself). */
  readonly apiKeyId?: string;
  readonly client?: string;
  readonly subject?: string;
}

/** The outcome of {@link UsageLimits.check}. Header names are lower case. */
export type LimitOutcome =
  | {
      /** Every applicable rule had room; the use was counted. */
      readonly outcome: 'allow';
      readonly headers: Readonly<Record<string, string>>;
      readonly states: readonly RuleState[];
    }
  | {
      /** A rule is exhausted: answer 429 with these headers (`retry-after` included). */
      readonly outcome: 'limited';
      /** The first exhausted rule's name (a bounded label value). */
      readonly rule: string;
      readonly retryAfterSeconds: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly states: readonly RuleState[];
    }
  | {
      /**
       * A credential id is longer than 1024 characters: it cannot name a real credential, so the
       * request is refused (401 `token_claims_invalid` in the warden), never let through
       * uncounted. Nothing was counted.
       */
      readonly outcome: 'invalid';
      /** Which identity is too long. */
      readonly kind: CredentialKind;
    }
  | {
      /** The limiter failed. `allow` says what the fail mode decided; `error` is the cause. */
      readonly outcome: 'unavailable';
      readonly allow: boolean;
      readonly error: unknown;
    };

/** One rule's state after a check. */
export interface RuleState extends LimitState {
  readonly rule: string;
  readonly limit: number;
  readonly windowMs: number;
}

const RULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const KINDS: readonly CredentialKind[] = ['token', 'api-key', 'client', 'subject'];
const ALGORITHMS: readonly LimitAlgorithm[] = ['sliding-window', 'token-bucket'];
/** Longest credential id counted; a longer one is a bug or an attack and is refused. */
export const MAX_CREDENTIAL_ID_LENGTH = 1024;

/** A rule after validation: every field present. */
export type ResolvedLimitRule = Required<LimitRule>;

/** Validates rules; throws {@link ConfigError} naming the option to fix. */
export function resolveLimitRules(
  rules: readonly LimitRule[],
  option = 'limits.rules',
): readonly ResolvedLimitRule[] {
  if (!Array.isArray(rules) || rules.length === 0) {
    throw new ConfigError(
      `${option} must list at least one rule, e.g. { name: 'per-token', by: 'token', limit: 100, windowMs: 60000 }`,
    );
  }
  const names = new Set<string>();
  return rules.map((rule, i) => {
    const where = `${option}[${i}]`;
    if (rule === null || typeof rule !== 'object')
      throw new ConfigError(`${where} must be an object`);
    if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
      throw new ConfigError(`${where}.name must be 1 to 64 characters of A-Z, a-z, 0-9, _ . -`);
    }
    if (names.has(rule.name)) {
      throw new ConfigError(`${where}.name '${rule.name}' is used twice; rule names are unique`);
    }
    names.add(rule.name);
    if (!KINDS.includes(rule.by)) {
      throw new ConfigError(`${where}.by must be one of ${KINDS.join(', ')}`);
    }
    if (!Number.isSafeInteger(rule.limit) || rule.limit <= 0 || rule.limit > 1e9) {
      throw new ConfigError(`${where}.limit must be a positive integer (at most 1e9)`);
    }
    if (
      !Number.isSafeInteger(rule.windowMs) ||
      rule.windowMs < 1_000 ||
      rule.windowMs > 31 * 86_400_000
    ) {
      throw new ConfigError(
        `${where}.windowMs must be an integer from 1000 (1 s) to 2678400000 (31 days)`,
      );
    }
    const algorithm = rule.algorithm ?? 'sliding-window';
    if (!ALGORITHMS.includes(algorithm)) {
      throw new ConfigError(`${where}.algorithm must be 'sliding-window' or 'token-bucket'`);
    }
    return { name: rule.name, by: rule.by, limit: rule.limit, windowMs: rule.windowMs, algorithm };
  });
}

/**
 * Per-credential usage limits, so a leaked token or key cannot be drained fast. Each check counts
 * one use against every applicable rule in one atomic limiter call (one Redis round trip); a
 * refused request consumes nothing. Answers carry IETF `RateLimit` / `RateLimit-Policy` headers
 * and, when limited, `Retry-After`.
 *
 * @example
 * const limits = new UsageLimits({
 *   rules: [
 *     { name: 'token-burst', by: 'token', limit: 20, windowMs: 1_000, algorithm: 'token-bucket' },
 *     { name: 'subject-hour', by: 'subject', limit: 5_000, windowMs: 3_600_000 },
 *   ],
 *   limiter: new RedisUsageLimiter({ client: redis }),
 * });
 * const outcome = await limits.check({ tokenId: 'jti-1', subject: 'user-7' });
 */
export class UsageLimits {
  /** The validated default rules. */
  readonly rules: readonly ResolvedLimitRule[];
  private readonly limiter: UsageLimiter;
  private readonly ownsLimiter: boolean;
  private readonly failOpen: boolean;
  private readonly sendHeaders: boolean;

  constructor(options: UsageLimitsOptions) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`UsageLimits needs an options object with 'rules'`);
    }
    this.rules = resolveLimitRules(options.rules);
    if (
      options.failMode !== undefined &&
      options.failMode !== 'closed' &&
      options.failMode !== 'open'
    ) {
      throw new ConfigError(`limits.failMode must be 'closed' or 'open'`);
    }
    this.failOpen = options.failMode === 'open';
    this.sendHeaders = options.headers ?? true;
    if (options.limiter !== undefined && typeof options.limiter?.consume !== 'function') {
      throw new ConfigError(`limits.limiter must have a consume() method (a UsageLimiter)`);
    }
    this.ownsLimiter = options.limiter === undefined;
    this.limiter = options.limiter ?? new MemoryUsageLimiter();
  }

  /**
   * Counts one use of the caller's credentials against `rules` (default: the configured rules; a
   * route may pass its own, validated once with {@link resolveLimitRules}). An id longer than
   * 1024 characters is an `'invalid'` outcome; a limiter failure an `'unavailable'` one decided
   * by the fail mode. A `cost` that is not a positive integer is a programming error and throws
   * a `TypeError`.
   */
  async check(
    ids: CredentialIds,
    rules: readonly ResolvedLimitRule[] = this.rules,
    cost = 1,
  ): Promise<LimitOutcome> {
    if (!Number.isSafeInteger(cost) || cost <= 0) {
      throw new TypeError('UsageLimits.check: cost must be a positive integer');
    }
    const tooLong = overlongKind(ids);
    if (tooLong !== undefined) return { outcome: 'invalid', kind: tooLong };
    const applied: ResolvedLimitRule[] = [];
    const checks: LimitCheck[] = [];
    for (const rule of rules) {
      const id = idFor(ids, rule.by);
      if (id === undefined) continue;
      applied.push(rule);
      checks.push({
        rule: rule.name,
        kind: rule.by,
        id,
        limit: rule.limit,
        windowMs: rule.windowMs,
        algorithm: rule.algorithm,
      });
    }
    if (checks.length === 0) return { outcome: 'allow', headers: {}, states: [] };
    let replies: readonly LimitState[];
    try {
      replies = await this.limiter.consume(checks, cost, callerKey(ids.client, ids.subject));
      if (replies.length !== checks.length) {
        throw new TypeError(
          `the limiter answered ${replies.length} states for ${checks.length} checks`,
        );
      }
    } catch (error) {
      return { outcome: 'unavailable', allow: this.failOpen, error };
    }
    const states: RuleState[] = replies.map((state, i) => {
      const rule = applied[i] as ResolvedLimitRule;
      return { ...state, rule: rule.name, limit: rule.limit, windowMs: rule.windowMs };
    });
    const exhausted = states.filter((s) => !s.allowed);
    if (exhausted.length === 0) {
      return {
        outcome: 'allow',
        headers: this.sendHeaders ? rateLimitHeaders(states) : {},
        states,
      };
    }
    const retryAfterMs = Math.max(...exhausted.map((s) => s.retryAfterMs));
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return {
      outcome: 'limited',
      rule: (exhausted[0] as RuleState).rule,
      retryAfterSeconds,
      headers: { ...rateLimitHeaders(states), 'retry-after': String(retryAfterSeconds) },
      states,
    };
  }

  /** Closes the limiter if this instance created it. */
  async close(): Promise<void> {
    if (this.ownsLimiter) await this.limiter.close?.();
  }
}

function idFor(ids: CredentialIds, kind: CredentialKind): string | undefined {
  const id =
    kind === 'token'
      ? ids.tokenId
      : kind === 'api-key'
        ? ids.apiKeyId
        : kind === 'client'
          ? ids.client
          : ids.subject;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The first identity whose id is too long to count, if any. */
function overlongKind(ids: CredentialIds): CredentialKind | undefined {
  for (const kind of KINDS) {
    const id = idFor(ids, kind);
    if (id !== undefined && id.length > MAX_CREDENTIAL_ID_LENGTH) return kind;
  }
  return undefined;
}

/**
 * `RateLimit-Policy` and `RateLimit` (IETF draft-ietf-httpapi-ratelimit-headers, structured
 * fields): one item per rule, `q` the quota, `w` the window and `t` the reset in seconds, `r` what
 * is left.
 */
export function rateLimitHeaders(states: readonly RuleState[]): Record<string, string> {
  if (states.length === 0) return {};
  return {
    'ratelimit-policy': states
      .map((s) => `"${s.rule}";q=${s.limit};w=${Math.ceil(s.windowMs / 1000)}`)
      .join(', '),
    ratelimit: states
      .map((s) => `"${s.rule}";r=${s.remaining};t=${Math.ceil(s.resetMs / 1000)}`)
      .join(', '),
  };
}
