import { escapeText } from '../audit/escape';
import type { AccessReport } from './access';
import type { ExposureReport } from './exposure-types';
import { EXPOSURE_USE_FIELDS } from './exposure-uses';
import type { HygieneReport } from './hygiene';
import type { ScopesReport } from './scopes';

/** CSV of an exposure report: one row per listed use. @internal */
export function exposureCsv(report: ExposureReport): string {
  return csv(
    ['time', 'outcome', ...EXPOSURE_USE_FIELDS, 'afterLeak'],
    report.didReach.usesListed.map((u) => [
      u.time,
      u.outcome,
      ...EXPOSURE_USE_FIELDS.map((field) => u[field]),
      u.afterLeak,
    ]),
  );
}

/** CSV of an access report: one row per listed access. @internal */
export function accessCsv(report: AccessReport): string {
  return csv(
    [
      'time',
      'outcome',
      'reason',
      'client',
      'tokenId',
      'subject',
      'method',
      'route',
      'purpose',
      'lawfulBasis',
      'dataCategories',
    ],
    report.accessesListed.map((a) => [
      a.time,
      a.outcome,
      a.reason,
      a.client,
      a.tokenId,
      a.subject,
      a.method,
      a.route,
      a.purpose,
      a.lawfulBasis,
      a.dataCategories.join(' '),
    ]),
  );
}

/** CSV of a least-privilege report: one row per client and scope. @internal */
export function scopesCsv(report: ScopesReport): string {
  return csv(
    ['client', 'scope', 'granted', 'exercised', 'uses', 'lastUse', 'remove'],
    report.clients.flatMap((c) => {
      const scopes = [
        ...new Set([...c.granted, ...c.exercised.map((e) => e.scope), ...c.carried]),
      ].sort();
      return scopes.map((scope) => {
        const e = c.exercised.find((x) => x.scope === scope);
        return [
          c.client,
          scope,
          c.granted.includes(scope),
          e !== undefined,
          e?.uses ?? 0,
          e?.lastUse,
          c.toRemove.includes(scope),
        ];
      });
    }),
  );
}

/** CSV of a hygiene report: one row per finding. @internal */
export function hygieneCsv(report: HygieneReport): string {
  return csv(
    ['severity', 'kind', 'target', 'message', 'figures'],
    report.findings.map((f) => [
      f.severity,
      f.kind,
      f.target,
      f.message,
      Object.entries(f.figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]),
  );
}

/** RFC 4180 CSV: one header line, CRLF line ends, formula-leading cells defused. @internal */
export function csv(
  head: readonly string[],
  rows: Iterable<readonly (string | number | boolean | undefined)[]>,
): string {
  let out = head.join(',') + '\r\n';
  for (const row of rows)
    out += row.map((c) => csvCell(c === undefined ? '' : String(c))).join(',') + '\r\n';
  return out;
}

/** One cell: control, separator and bidi characters escaped, formulas defused, RFC 4180 quoting. */
function csvCell(raw: string): string {
  const text = escapeText(raw);
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
