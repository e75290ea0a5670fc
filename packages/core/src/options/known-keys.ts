import type { AuditOptions } from '../audit/options';
import { isPlainObject, optionKeys, rejectUnknownKeys } from '../internal/option-keys';
import type { LimitRule, UsageLimitsOptions } from '../limits/usage-limits';
import type { MetricsOptions } from '../metrics/types';
import type { StateCacheOptions } from '../store/caching-store';
import type { DpopNonceOptions } from '../verify/dpop-nonces';
import type {
  ApiKeyOptions,
  CacheOptions,
  CredentialOptions,
  JwtOptions,
  WardenDpopOptions,
  WardenOptions,
} from './types';

// Every option name of each options object, once. The compiler holds each list to its interface
// both ways: an option added to an interface and not listed here fails to compile.

export const WARDEN_OPTION_KEYS = optionKeys<WardenOptions>()([
  'jwt',
  'issuers',
  'dpop',
  'limits',
  'store',
  'purposes',
  'policy',
  'credentials',
  'publicPaths',
  'credentialsRequired',
  'audit',
  'metrics',
  'cache',
  'apiKeys',
  'realm',
  'logger',
  'clock',
  'retention',
]);

export const JWT_OPTION_KEYS = optionKeys<JwtOptions>()([
  'algorithms',
  'keys',
  'issuer',
  'audience',
  'maxLifetimeMs',
  'clockToleranceMs',
  'maxClaimLength',
  'permissionsClaim',
  'requireTokenId',
  'scopeClaimFormat',
  'audienceClaim',
  'clientClaim',
  'acceptedTypes',
]);

export const CREDENTIAL_OPTION_KEYS = optionKeys<CredentialOptions>()([
  'header',
  'cookie',
  'queryParameter',
  'maxTokenBytes',
  'getToken',
  'onExposure',
]);

export const CACHE_OPTION_KEYS = optionKeys<CacheOptions>()(['tokens', 'state']);

export const STATE_CACHE_OPTION_KEYS = optionKeys<StateCacheOptions>()(['maxEntries', 'maxAgeMs']);

export const AUDIT_OPTION_KEYS = optionKeys<AuditOptions>()([
  'sinks',
  'fingerprintKey',
  'clientAddress',
  'userAgent',
  'mode',
  'batchSize',
  'flushIntervalMs',
  'maxQueue',
  'spoolDir',
  'spoolMaxBytes',
  'spoolMaxAgeMs',
  'onFailure',
  'chainKey',
  'chain',
  'checkpoints',
  'producer',
  'writeTimeoutMs',
  'retryIntervalMs',
  'subjectKeys',
]);

export const DPOP_OPTION_KEYS = optionKeys<WardenDpopOptions>()([
  'publicOrigin',
  'algorithms',
  'mode',
  'maxAgeMs',
  'clockToleranceMs',
  'replayCache',
  'replayFailMode',
  'nonce',
  'maxProofBytes',
]);

export const DPOP_NONCE_OPTION_KEYS = optionKeys<DpopNonceOptions>()(['secret', 'lifetimeMs']);

export const LIMITS_OPTION_KEYS = optionKeys<UsageLimitsOptions>()([
  'rules',
  'limiter',
  'failMode',
  'headers',
]);

export const LIMIT_RULE_KEYS = optionKeys<LimitRule>()([
  'name',
  'by',
  'limit',
  'windowMs',
  'algorithm',
]);

export const API_KEY_OPTION_KEYS = optionKeys<ApiKeyOptions>()([
  'store',
  'environments',
  'usageFlushIntervalMs',
]);

export const METRICS_OPTION_KEYS = optionKeys<MetricsOptions>()(['registry', 'prefix']);

/**
 * Refuses, at start-up, an option name the warden does not know, anywhere in its options
 * objects (trusted issuers check their own): a typo (`purpose` for `purposes`) would otherwise
 * be ignored silently and leave a default in force. Throws `ConfigError` naming the option and
 * the closest known name.
 */
export function rejectUnknownOptions(options: WardenOptions): void {
  rejectUnknownKeys(options, WARDEN_OPTION_KEYS);
  rejectUnknownKeys(options.jwt, JWT_OPTION_KEYS, 'jwt.');
  rejectUnknownKeys(options.credentials, CREDENTIAL_OPTION_KEYS, 'credentials.');
  if (isPlainObject(options.cache)) {
    rejectUnknownKeys(options.cache, CACHE_OPTION_KEYS, 'cache.');
    rejectUnknownKeys(options.cache.state, STATE_CACHE_OPTION_KEYS, 'cache.state.');
  }
  rejectUnknownKeys(options.audit, AUDIT_OPTION_KEYS, 'audit.');
  if (isPlainObject(options.dpop)) {
    rejectUnknownKeys(options.dpop, DPOP_OPTION_KEYS, 'dpop.');
    rejectUnknownKeys(options.dpop.nonce, DPOP_NONCE_OPTION_KEYS, 'dpop.nonce.');
  }
  // A UsageLimits instance is not an options object: only a plain one is checked.
  if (isPlainObject(options.limits)) {
    rejectUnknownKeys(options.limits, LIMITS_OPTION_KEYS, 'limits.');
    const rules: unknown = options.limits.rules;
    if (Array.isArray(rules)) {
      rules.forEach((rule, i) => rejectUnknownKeys(rule, LIMIT_RULE_KEYS, `limits.rules[${i}].`));
    }
  }
  rejectUnknownKeys(options.apiKeys, API_KEY_OPTION_KEYS, 'apiKeys.');
  rejectUnknownKeys(options.metrics, METRICS_OPTION_KEYS, 'metrics.');
}
