export * from './types';
export { SubjectOpener, type SubjectOpenerOptions } from '../audit/seal';
export { StreamingChainCheck } from './chain-check';
export {
  AuditSourceError,
  JsonLinesSource,
  MemorySource,
  type JsonLinesSourceOptions,
} from './sources';
export { exposureReport } from './exposure';
export type {
  CategoryCount,
  ExposureOptions,
  ExposureReport,
  ExposureRevocation,
  ExposureSelector,
  ExposureUse,
  ReachableRoute,
} from './exposure-types';
export { UNLISTED_ROUTE } from './exposure-uses';
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
  type RetentionRow,
} from './hygiene';
export { processingReport } from './processing';
export type {
  ObservedProcessing,
  ProcessingActivity,
  ProcessingGap,
  ProcessingOptions,
  ProcessingRecipient,
  ProcessingReport,
  SecurityMeasures,
} from './processing-types';
export { breachReport, breachSelector } from './breach';
export type {
  BreachGap,
  BreachMeasure,
  BreachOptions,
  BreachReport,
  BreachSubject,
} from './breach-types';
export { formatReport, type Report, type ReportFormat } from './render';
export { chainSummary } from './render-doc';
