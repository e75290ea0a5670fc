/**
 * `@tokenwarden/core/policy`: the policy file. Reading, checking and linting it needs a YAML
 * parser and a schema validator (yaml, zod); they load only when this entry is imported, never
 * on the request path of `@tokenwarden/core`.
 */
export { checkPolicy, formatDiagnostic, loadPolicyFile } from './policy/file';
export {
  clientSecretsFromPolicy,
  issuerClientsFromPolicy,
  masterKeysFromPolicy,
  refreshTokenClientsFromPolicy,
  refreshTokenOptionsFromPolicy,
  retentionFromPolicy,
  wardenOptionsFromPolicy,
  type PolicyWardenParts,
} from './policy/from-policy';
export type {
  Policy,
  PolicyCheckResult,
  PolicyClient,
  PolicyController,
  PolicyDataSubject,
  PolicyDiagnostic,
  PolicyPurpose,
  PolicyRecipient,
  PolicyRetention,
  PolicyRoute,
  PolicyScope,
} from './policy/types';
export { policySchema, type PolicyDocument } from './policy/schema';
export {
  checkPolicyDrift,
  driftMode,
  expressRoutes,
  findPolicyDrift,
  koaRoutes,
  registerRouteWalker,
  reportPolicyDrift,
  routesOfApp,
  type CodeRoute,
  type DriftFinding,
  type DriftKind,
  type DriftMode,
  type DriftReportOptions,
  type RouteWalker,
} from './policy/drift';
export { durationMs } from './internal/duration';
