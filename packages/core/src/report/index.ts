export * from './types';
export { StreamingChainCheck } from './chain-check';
export {
  AuditSourceError,
  JsonLinesSource,
  MemorySource,
  type JsonLinesSourceOptions,
} from './sources';
export {
  exposureReport,
  UNLISTED_ROUTE,
  type CategoryCount,
  type ExposureOptions,
  type ExposureReport,
  type ExposureRevocation,
  type ExposureSelector,
  type ExposureUse,
  type ReachableRoute,
} from './exposure';
export {
  accessReport,
  type AccessEntry,
  type AccessOptions,
  type AccessRecipient,
  type AccessReport,
} from './access';
export {
  scopesReport,
  type ClientScopes,
  type ExercisedScope,
  type ScopesOptions,
  type ScopesReport,
} from './scopes';
export {
  hygieneReport,
  type HygieneFinding,
  type HygieneFindingKind,
  type HygieneOptions,
  type HygieneReport,
} from './hygiene';
export { chainSummary, formatReport, type Report, type ReportFormat } from './render';
