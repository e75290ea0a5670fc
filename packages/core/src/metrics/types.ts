import type { Registry } from 'prom-client';

/** Prometheus settings. */
export interface MetricsOptions {
  /** Registry to register into. Default: a fresh registry owned by the warden (never the global one). */
  readonly registry?: Registry;
  /** Metric name prefix. Default: `'tokenwarden_'`. */
  readonly prefix?: string;
}

/** Outcome of a scope or consent check. */
export type CheckOutcome = 'pass' | 'fail';

/** The metrics the pipeline records. Implemented on prom-client, or as a no-op. */
export interface WardenMetrics {
  /** One decision: its outcome, reason and the time it took. */
  decision(outcome: 'allow' | 'deny', reason: string, seconds: number): void;
  /** Age of a token when it was used. */
  tokenAge(seconds: number): void;
  scopeCheck(outcome: CheckOutcome): void;
  consentCheck(purpose: string, outcome: CheckOutcome, reason: string): void;
  /** One store call: its duration and whether it failed. */
  storeCall(operation: string, seconds: number, failed: boolean): void;
  revocation(kind: 'token' | 'subject' | 'client' | 'all'): void;
  /** An audit batch delivered or failed. */
  auditEvents(result: 'written' | 'failed', count: number): void;
  /** Prometheus text exposition of the registry. */
  render(): Promise<string>;
  /** Content type of {@link WardenMetrics.render}. */
  readonly contentType: string;
}
