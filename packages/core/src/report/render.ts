import { escapeJsonText } from '../audit/escape';
import type { AccessReport } from './access';
import type { BreachReport } from './breach-types';
import type { ExposureReport } from './exposure-types';
import type { HygieneReport } from './hygiene';
import type { ProcessingReport } from './processing-types';
import type { ScopesReport } from './scopes';
import { accessCsv, exposureCsv, hygieneCsv, scopesCsv } from './render-csv';
import type { DocMode } from './render-doc';
import { breachCsv, breachDoc } from './render-breach';
import { processingCsv, processingDoc } from './render-gdpr';
import { accessDoc, exposureDoc, hygieneDoc, scopesDoc } from './render-text';

/** Any report of this module. */
export type Report =
  ExposureReport | AccessReport | ScopesReport | HygieneReport | ProcessingReport | BreachReport;

/**
 * Output formats: Markdown (a breach record), plain text for a terminal, a self-contained HTML
 * page, CSV rows, JSON.
 */
export type ReportFormat = 'markdown' | 'text' | 'html' | 'csv' | 'json';

/**
 * Renders a report. Markdown, text and HTML carry the header (period, source, chain verdict) and
 * every figure; the HTML is one page with its style inline that loads nothing (to attach to a
 * record). CSV has one row per use (exposure), access (access), client scope (scopes), finding
 * (hygiene), processing activity (processing) or data subject to notify (breach); JSON is the
 * report object. Every format escapes control, separator and bidi characters (`escapeUnsafe`).
 */
export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return escapeJsonText(JSON.stringify(report, null, 2)) + '\n';
  if (format === 'csv') {
    switch (report.kind) {
      case 'exposure':
        return exposureCsv(report);
      case 'access':
        return accessCsv(report);
      case 'scopes':
        return scopesCsv(report);
      case 'hygiene':
        return hygieneCsv(report);
      case 'processing':
        return processingCsv(report);
      case 'breach':
        return breachCsv(report);
    }
  }
  const mode: DocMode = format;
  switch (report.kind) {
    case 'exposure':
      return exposureDoc(report, mode);
    case 'access':
      return accessDoc(report, mode);
    case 'scopes':
      return scopesDoc(report, mode);
    case 'hygiene':
      return hygieneDoc(report, mode);
    case 'processing':
      return processingDoc(report, mode);
    case 'breach':
      return breachDoc(report, mode);
  }
}
