export { createWarden, Warden, type Access } from './warden';
export {
  createAdmin,
  WardenAdmin,
  type AdminOptions,
  type GrantConsentInput,
  type RevokeBeforeOptions,
  type RevokeTokenOptions,
  type WithdrawConsentInput,
} from './admin';
export {
  isDenied,
  PROBLEM_CONTENT_TYPE,
  type AllowDecision,
  type AllowReason,
  type Decision,
  type DenyDecision,
  type Principal,
  type ProblemDetails,
} from './decision';
export type { RequestView } from './request';
export {
  headerValuesOf,
  holdUntilDurable,
  writeDenial,
  type HeldResponse,
  type NodeRequestLike,
  type NodeResponseLike,
} from './http/node';
export * from './errors';
export * from './policy';
export * from './verify';
export * from './store';
export * from './audit';
export * from './issue';
export { evaluateConsent, type ConsentVerdict } from './consent';
export { isRevoked } from './revocation';
export { METRICS, type CheckOutcome, type MetricsOptions, type WardenMetrics } from './metrics';
export { systemClock, type Clock } from './internal/clock';
export * from './limits';
export * from './report';
