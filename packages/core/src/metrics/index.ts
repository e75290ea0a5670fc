export type {
  AuditResult,
  CacheName,
  CacheResult,
  CheckOutcome,
  ExposurePlace,
  MetricsOptions,
  WardenMetrics,
} from './types';
export { METRICS } from './names';
export { createPrometheusMetrics, noopMetrics } from './prometheus';
