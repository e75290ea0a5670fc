import type { LimitState } from './types';

/**
 * The two counting algorithms as pure functions over a small state record. The Redis limiter runs
 * the same arithmetic in Lua; keep both in step.
 */

/** Sliding-window counter state: the current fixed window's start and count, and the previous count. */
export interface SlidingState {
  windowStart: number;
  current: number;
  previous: number;
}

/** Token-bucket state: tokens left (fractional) and when they were counted (epoch ms). */
export interface BucketState {
  tokens: number;
  at: number;
}

/** A state with the answer it gives, before anything is written. */
export interface Evaluation<S> {
  readonly state: LimitState;
  /** The state to store if the whole call is allowed. */
  readonly next: S;
  /** The state to store if the call is refused (time moved on, nothing consumed). */
  readonly unchanged: S;
  /** When the stored state may be forgotten, in ms from now. */
  readonly ttlMs: number;
}

/** Evaluates one use of `cost` against a sliding-window counter at `now` (epoch ms). */
export function evaluateSliding(
  stored: SlidingState | undefined,
  limit: number,
  windowMs: number,
  cost: number,
  now: number,
): Evaluation<SlidingState> {
  const windowStart = Math.floor(now / windowMs) * windowMs;
  let current = 0;
  let previous = 0;
  if (stored !== undefined) {
    if (stored.windowStart === windowStart) {
      current = stored.current;
      previous = stored.previous;
    } else if (stored.windowStart === windowStart - windowMs) {
      previous = stored.current;
    }
  }
  const elapsed = now - windowStart;
  const untilWindowEnd = windowMs - elapsed;
  const count = (previous * untilWindowEnd) / windowMs + current;
  const unchanged = { windowStart, current, previous };
  const ttlMs = 2 * windowMs;
  if (count + cost <= limit) {
    return {
      state: {
        allowed: true,
        remaining: Math.max(0, Math.floor(limit - count - cost)),
        resetMs: untilWindowEnd,
        retryAfterMs: 0,
      },
      next: { windowStart, current: current + cost, previous },
      unchanged,
      ttlMs,
    };
  }
  let retryAfterMs: number;
  if (cost > limit) {
    retryAfterMs = 2 * windowMs;
  } else if (current + cost <= limit && previous > 0) {
    // The previous window's weight fades enough before this window ends.
    retryAfterMs = untilWindowEnd - (windowMs * (limit - current - cost)) / previous;
  } else {
    // Wait for the next window, where this window's count fades in turn.
    const intoNext = current > 0 ? windowMs - (windowMs * (limit - cost)) / current : 0;
    retryAfterMs = untilWindowEnd + Math.max(0, intoNext);
  }
  return {
    state: {
      allowed: false,
      remaining: Math.max(0, Math.floor(limit - count)),
      resetMs: untilWindowEnd,
      retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
    },
    next: unchanged,
    unchanged,
    ttlMs,
  };
}

/** Evaluates one use of `cost` against a token bucket of `limit` refilled per `windowMs`. */
export function evaluateBucket(
  stored: BucketState | undefined,
  limit: number,
  windowMs: number,
  cost: number,
  now: number,
): Evaluation<BucketState> {
  const rate = limit / windowMs;
  let tokens = limit;
  if (stored !== undefined) {
    tokens = Math.min(limit, stored.tokens + Math.max(0, now - stored.at) * rate);
  }
  const unchanged = { tokens, at: now };
  if (tokens >= cost) {
    const left = tokens - cost;
    return {
      state: {
        allowed: true,
        remaining: Math.floor(left),
        resetMs: Math.ceil((limit - left) / rate),
        retryAfterMs: 0,
      },
      next: { tokens: left, at: now },
      unchanged,
      ttlMs: Math.ceil((limit - left) / rate) + 1_000,
    };
  }
  const retryAfterMs = cost > limit ? 2 * windowMs : Math.ceil((cost - tokens) / rate);
  return {
    state: {
      allowed: false,
      remaining: Math.floor(tokens),
      resetMs: Math.ceil((limit - tokens) / rate),
      retryAfterMs: Math.max(1, retryAfterMs),
    },
    next: unchanged,
    unchanged,
    ttlMs: Math.ceil((limit - tokens) / rate) + 1_000,
  };
}
