import {
  escapeJsonText,
  escapeText,
  type AuditEvent,
  type ChainReport,
} from '@tokenwarden/core/internal';
import { CliError } from '../shared';

/** What `audit tail` and `audit export` may filter on. */
export interface EventFilter {
  readonly subject?: string;
  readonly client?: string;
  /** A token id (jti) or a token fingerprint. */
  readonly token?: string;
  readonly outcome?: string;
}

const OUTCOMES = ['allow', 'deny', 'success', 'failure'];

/** Checks the filter options; a bad outcome is a CliError (exit 2). */
export function checkedFilter(filter: EventFilter): EventFilter {
  if (filter.outcome !== undefined && !OUTCOMES.includes(filter.outcome)) {
    throw new CliError(`--outcome must be one of ${OUTCOMES.join(', ')}`, 2);
  }
  return filter;
}

/** True when the event passes every given filter. */
export function matches(event: AuditEvent, filter: EventFilter): boolean {
  if (filter.subject !== undefined && event.subject !== filter.subject) {
    if (event.dataSubject !== filter.subject) return false;
  }
  if (filter.client !== undefined && event.client !== filter.client) return false;
  if (
    filter.token !== undefined &&
    event.tokenId !== filter.token &&
    event.tokenFingerprint !== filter.token
  ) {
    return false;
  }
  if (filter.outcome !== undefined && event.outcome !== filter.outcome) return false;
  return true;
}

/**
 * One stored event line as printed (`audit tail --json`, `audit export --format jsonl`): the
 * stored JSON with control, separator and bidi characters JSON-escaped, so a line written by an
 * older version prints as safely as a new one and still parses to the same event.
 */
export function jsonLine(raw: string): string {
  return escapeJsonText(raw);
}

/** One event as a line for people; control, separator and bidi characters escaped (`\u{85}`). */
export function humanLine(event: AuditEvent): string {
  const parts = [event.time, event.outcome.padEnd(7), event.type];
  if (event.reason !== undefined) parts.push(event.reason);
  if (event.method !== undefined || event.route !== undefined) {
    parts.push(`${event.method ?? ''} ${event.route ?? ''}`.trim());
  }
  if (event.status !== undefined) parts.push(String(event.status));
  const fields: [string, unknown][] = [
    ['sub', event.subject],
    ['client', event.client],
    ['jti', event.tokenId],
    ['data-subject', event.dataSubject],
    ['purpose', event.purpose],
    ['req', event.requestId],
    ['from', event.clientAddress],
    ['actor', event.actor],
  ];
  for (const [name, value] of fields)
    if (value !== undefined) parts.push(`${name}=${String(value)}`);
  return escapeText(parts.join('  '));
}

/** Columns of the CSV export, in order. */
export const CSV_COLUMNS = [
  'time',
  'id',
  'type',
  'outcome',
  'reason',
  'subject',
  'client',
  'tokenId',
  'tokenFingerprint',
  'scopes',
  'method',
  'route',
  'status',
  'dataSubject',
  'purpose',
  'lawfulBasis',
  'requestId',
  'clientAddress',
  'userAgent',
  'actor',
  'detail',
  'producer',
  'seq',
  'hash',
] as const;

/** The CSV header line (with CRLF, RFC 4180). */
export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n';
}

/** One event as a CSV row (RFC 4180 quoting; cells a spreadsheet would run as formulas are defused). */
export function csvRow(event: AuditEvent): string {
  const source = event as unknown as Record<string, unknown>;
  return (
    CSV_COLUMNS.map((column) => {
      const value = source[column];
      if (value === undefined) return '';
      const text =
        column === 'scopes' && Array.isArray(value)
          ? value.join(' ')
          : typeof value === 'object'
            ? JSON.stringify(value)
            : String(value);
      return csvCell(text);
    }).join(',') + '\r\n'
  );
}

function csvCell(raw: string): string {
  const text = escapeText(raw);
  // A leading = + - @ (or tab/CR) makes spreadsheets evaluate the cell (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A chain report for people. */
export function chainLine(report: ChainReport): string {
  const range =
    report.firstSeq === undefined ? 'no events' : `events ${report.firstSeq}..${report.lastSeq}`;
  const notes = [report.keyed ? 'keyed' : 'unkeyed'];
  if (report.trimmedBefore) notes.push('earlier events trimmed by retention');
  const head = `${report.intact ? 'intact' : 'BROKEN'}  ${report.producer || '(no producer)'}  ${range} (${report.events})  ${notes.join(', ')}`;
  const problems = report.problems.map((p) => `    ${p.kind}: ${p.message}`);
  return [head, ...problems].join('\n');
}
