import type { AccessReport } from './access';
import type { ExposureReport } from './exposure-types';
import type { HygieneReport } from './hygiene';
import type { ScopesReport } from './scopes';
import { accessCsv, exposureCsv, hygieneCsv, scopesCsv } from './render-csv';
import { accessDoc, exposureDoc, hygieneDoc, scopesDoc } from './render-text';

/** Any report of this module. */
export type Report = ExposureReport | AccessReport | ScopesReport | HygieneReport;

/** Output formats: Markdown (a breach record), plain text for a terminal, CSV rows, JSON. */
export type ReportFormat = 'markdown' | 'text' | 'csv' | 'json';

/**
 * Renders a report. Markdown and text carry the header (period, source, chain verdict) and every
 * figure; CSV has one row per use (exposure), access (access), client scope (scopes) or finding
 * (hygiene); JSON is the report object.
 */
export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(report, null, 2) + '\n';
  const csv = format === 'csv';
  const md = format === 'markdown';
  switch (report.kind) {
    case 'exposure':
      return csv ? exposureCsv(report) : exposureDoc(report, md);
    case 'access':
      return csv ? accessCsv(report) : accessDoc(report, md);
    case 'scopes':
      return csv ? scopesCsv(report) : scopesDoc(report, md);
    case 'hygiene':
      return csv ? hygieneCsv(report) : hygieneDoc(report, md);
  }
}
