/**
 * Per-credential usage limits: the contract between the policy ({@link UsageLimits}) and the
 * counter backend (`MemoryUsageLimiter` here, `RedisUsageLimiter` in @tokenwarden/redis).
 * Every duration is in integer milliseconds (`...Ms`).
 */

/**
 * How uses are counted.
 * - `'sliding-window'`: at most `limit` uses in any `windowMs`, estimated from the current and the
 *   previous fixed window (the previous one weighted by how much of it still overlaps). O(1) state.
 * - `'token-bucket'`: a bucket of `limit` tokens refilled at `limit` per `windowMs`; allows a
 *   burst of `limit`, then a steady rate.
 */
export type LimitAlgorithm = 'sliding-window' | 'token-bucket';

/** Which identity of the caller a rule counts against. */
export type CredentialKind = 'token' | 'api-key' | 'client' | 'subject';

/** One counter the backend updates: a rule applied to one credential id. */
export interface LimitCheck {
  /** The rule name (`[A-Za-z0-9_.-]`, at most 64 characters). */
  readonly rule: string;
  readonly kind: CredentialKind;
  /** The untrusted credential id (token id, API key id, client id or subject). */
  readonly id: string;
  /** Uses allowed per window (a positive integer). */
  readonly limit: number;
  /** The window, in ms (a positive integer). */
  readonly windowMs: number;
  readonly algorithm: LimitAlgorithm;
}

/** A counter's state after a {@link UsageLimiter.consume} call. */
export interface LimitState {
  /** True when this counter had room for the use. */
  readonly allowed: boolean;
  /** Uses left now (after this one, when the whole call was allowed), never negative. */
  readonly remaining: number;
  /** Ms until the counter's quota resets (end of the window, or until the bucket is full). */
  readonly resetMs: number;
  /** Ms until a use of the same cost could succeed; 0 when allowed. */
  readonly retryAfterMs: number;
}

/**
 * Where usage counters live. A call is atomic over all its checks: either every counter takes the
 * use, or (when any one is exhausted) none does, so a refused request never drains a budget.
 */
export interface UsageLimiter {
  /**
   * Counts one use of weight `cost` against every check; replies one state per check, in order.
   * Rejects (never guesses) when the backend cannot answer. `caller` names who new counters
   * count against in a limiter that bounds each caller's share (the memory limiter, which then
   * answers the checks needing a new counter as refused); a shared limiter may ignore it.
   */
  consume(
    checks: readonly LimitCheck[],
    cost: number,
    caller?: string,
  ): Promise<readonly LimitState[]>;
  /** Releases timers and connections the limiter owns. */
  close?(): Promise<void>;
}
