export type {
  ApiKeyOptions,
  CacheOptions,
  CredentialOptions,
  JwtOptions,
  Logger,
  PurposeDefinition,
  WardenOptions,
} from './options';
export {
  LAWFUL_BASES,
  routeSteps,
  type RouteSteps,
  type ConsentRequirement,
  type LawfulBasis,
  type LawfulBasisRequirement,
  type Requirement,
  type SubjectResolver,
} from './requirement';
export {
  checkPolicy,
  clientSecretsFromPolicy,
  durationMs,
  formatDiagnostic,
  issuerClientsFromPolicy,
  loadPolicyFile,
  masterKeysFromPolicy,
  wardenOptionsFromPolicy,
  type Policy,
  type PolicyCheckResult,
  type PolicyClient,
  type PolicyDiagnostic,
  type PolicyPurpose,
  type PolicyRoute,
  type PolicyScope,
  type PolicyWardenParts,
} from './file';
export { policySchema, type PolicyDocument } from './schema';
