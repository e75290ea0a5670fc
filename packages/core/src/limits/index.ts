export type { CredentialKind, LimitAlgorithm, LimitCheck, LimitState, UsageLimiter } from './types';
export { MemoryUsageLimiter, type MemoryUsageLimiterOptions } from './memory-limiter';
export {
  rateLimitHeaders,
  resolveLimitRules,
  UsageLimits,
  type CredentialIds,
  type LimitOutcome,
  type LimitRule,
  type ResolvedLimitRule,
  type RuleState,
  type UsageLimitsOptions,
} from './usage-limits';
export { MemoryReplayCache, type MemoryReplayCacheOptions, type ReplayCache } from './replay-cache';
export { callerKey } from './caller';
export { CallerShareFullError } from './shares';
