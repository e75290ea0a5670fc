export type {
  AuditResult,
  CacheName,
  CacheResult,
  CheckOutcome,
  MetricsOptions,
  WardenMetrics,
} from './types';
export { METRICS } from './names';
export { createPrometheusMetrics, noopMetrics } from './prometheus';
