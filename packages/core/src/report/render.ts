import type { AccessReport } from './access';
import { EXPOSURE_USE_FIELDS, type ExposureReport } from './exposure';
import type { HygieneReport } from './hygiene';
import type { ScopesReport } from './scopes';
import type { ChainVerdict, ReportHeader } from './types';

/** Any report of this module. */
export type Report = ExposureReport | AccessReport | ScopesReport | HygieneReport;

/** Output formats: Markdown (a breach record), plain text for a terminal, CSV rows, JSON. */
export type ReportFormat = 'markdown' | 'text' | 'csv' | 'json';

/** Most rows a Markdown or text rendering lists per table (CSV and JSON list everything kept). */
const MAX_ROWS = 50;

/**
 * Renders a report. Markdown and text carry the header (period, source, chain verdict) and every
 * figure; CSV has one row per use (exposure), access (access), client scope (scopes) or finding
 * (hygiene); JSON is the report object.
 */
export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(report, null, 2) + '\n';
  if (format === 'csv') return csvOf(report);
  const md = format === 'markdown';
  switch (report.kind) {
    case 'exposure':
      return exposureDoc(report, md);
    case 'access':
      return accessDoc(report, md);
    case 'scopes':
      return scopesDoc(report, md);
    case 'hygiene':
      return hygieneDoc(report, md);
  }
}

/** One line on whether the chain verified, and where it broke. */
export function chainSummary(chain: ChainVerdict): string {
  if (chain.chains.length === 0 && chain.unreadable === 0 && chain.unchained === 0) {
    return 'not verified: no events read';
  }
  if (chain.verified) {
    const n = chain.chains.reduce((sum, c) => sum + c.events, 0);
    return `verified: ${chain.chains.length} chain(s), ${n} events intact${chain.keyed ? ' (keyed)' : ''}`;
  }
  const parts: string[] = [];
  for (const c of chain.chains) {
    if (c.intact) continue;
    const first = c.problems[0];
    parts.push(
      `${c.producer}: ${c.problemCount} problem(s), first: ${first ? `${first.kind} at seq ${first.seq ?? '?'} (${first.message})` : 'unknown'}`,
    );
  }
  if (chain.unreadable > 0) {
    parts.push(
      `${chain.unreadable} unreadable entr${chain.unreadable === 1 ? 'y' : 'ies'} (first at ${chain.unreadableAt[0] ?? '?'})`,
    );
  }
  if (chain.unchained > 0) parts.push(`${chain.unchained} events without chain fields`);
  return `NOT VERIFIED: ${parts.join('; ')}`;
}

/** Builds Markdown or plain text with the same structure. */
class Doc {
  private readonly lines: string[] = [];
  constructor(private readonly md: boolean) {}

  title(text: string): this {
    this.lines.push(this.md ? `# ${text}` : text.toUpperCase(), '');
    return this;
  }
  section(text: string): this {
    this.lines.push(this.md ? `## ${text}` : `${text}:`, '');
    return this;
  }
  fields(rows: readonly (readonly [string, string | number | undefined])[]): this {
    for (const [name, value] of rows) {
      if (value === undefined) continue;
      this.lines.push(
        this.md ? `- **${name}**: ${escapeMd(String(value))}` : `  ${name}: ${value}`,
      );
    }
    this.lines.push('');
    return this;
  }
  text(line: string): this {
    this.lines.push(this.md ? escapeMd(line) : `  ${line}`, '');
    return this;
  }
  table(
    head: readonly string[],
    rows: readonly (readonly (string | number)[])[],
    total = rows.length,
  ): this {
    if (rows.length === 0) {
      this.lines.push(this.md ? '_none_' : '  (none)', '');
      return this;
    }
    const shown = rows.slice(0, MAX_ROWS);
    if (this.md) {
      this.lines.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`);
      for (const row of shown)
        this.lines.push(`| ${row.map((c) => escapeCell(String(c))).join(' | ')} |`);
    } else {
      const widths = head.map((h, i) =>
        Math.max(h.length, ...shown.map((r) => String(r[i]).length)),
      );
      const line = (cells: readonly (string | number)[]) =>
        '  ' +
        cells
          .map((c, i) => String(c).padEnd(widths[i]!))
          .join('  ')
          .trimEnd();
      this.lines.push(line(head));
      for (const row of shown) this.lines.push(line(row));
    }
    if (total > shown.length) {
      const more = `… ${total - shown.length} more: the CSV and JSON formats list up to 10000`;
      this.lines.push('', this.md ? more : `  ${more}`);
    }
    this.lines.push('');
    return this;
  }
  toString(): string {
    return this.lines.join('\n').replace(/\n+$/, '') + '\n';
  }
}

function header(doc: Doc, report: ReportHeader): void {
  doc.fields([
    [
      'period',
      `${report.period.since ?? 'start of the trail'} to ${report.period.until ?? 'end of the trail'}`,
    ],
    [
      'events in the period',
      report.period.firstEvent
        ? `${report.period.firstEvent} to ${report.period.lastEvent}`
        : 'none',
    ],
    ['events read', report.eventsRead],
    ['audit source', report.source],
    ['audit chain', chainSummary(report.chain)],
    ['policy', report.policy ? 'given' : 'not given: what the credential could reach is unknown'],
    ['generated', report.generatedAt],
  ]);
}

const list = (values: readonly string[]) => (values.length === 0 ? '—' : values.join(', '));
const or = (value: string | number | undefined) => (value === undefined ? '—' : String(value));

function exposureDoc(r: ExposureReport, md: boolean): string {
  const doc = new Doc(md);
  const names = { token: 'token', api_key: 'API key', client: 'client', subject: 'subject' };
  doc.title(`Exposure report: ${names[r.credential.kind]} ${r.credential.id}`);
  header(doc, r);
  const d = r.didReach;
  doc.section('Summary').fields([
    ['suspected leak', r.leakedAt ?? 'not given'],
    ['uses', `${d.uses} (${d.allowed} allowed, ${d.denied} denied)`],
    ['first use', or(d.firstUse)],
    ['last use', or(d.lastUse)],
    [
      'uses after the suspected leak',
      r.leakedAt
        ? `${d.usesAfterLeak} (${d.allowedAfterLeak} allowed), first ${or(d.firstUseAfterLeak)}`
        : undefined,
    ],
    [
      'distinct data subjects touched',
      `${d.dataSubjects}${r.leakedAt ? ` (${d.dataSubjectsAfterLeak} after the leak)` : ''}`,
    ],
    ['revoked', r.revocation.revoked ? `yes, ${or(r.revocation.revokedAt)}` : 'no'],
    [
      'allowed uses after revocation',
      r.revocation.revoked ? r.revocation.allowedAfterRevocation : undefined,
    ],
  ]);
  const c = r.couldReach;
  doc.section('What it could reach').fields([
    [
      'scopes',
      `${list(c.scopes)}${c.scopesFrom.length ? ` (from ${c.scopesFrom.join(', ')})` : ''}`,
    ],
    ['personal data categories', list(c.dataCategories)],
    ['purposes', list(c.purposes.map((p) => `${p.purpose} (${p.lawfulBasis})`))],
    ['issued', c.issuedAt],
    ['expires', c.expiresAt],
    ['lifetime', c.lifetimeSeconds === undefined ? undefined : `${c.lifetimeSeconds} s`],
    [
      'token lifetime cap of the client',
      c.maxTokenLifetimeSeconds === undefined ? undefined : `${c.maxTokenLifetimeSeconds} s`,
    ],
    ['tokens issued in the period', c.tokensIssued],
  ]);
  doc.table(
    ['route', 'scopes', 'data categories', 'purpose', 'lawful basis'],
    c.routes.map((x) => [
      x.route,
      list(x.scopes),
      list(x.dataCategories),
      or(x.purpose),
      or(x.lawfulBasis),
    ]),
  );
  doc.section('Revocation');
  if (r.revocation.current) {
    const cur = r.revocation.current;
    doc.fields([
      ['token id revoked in the store now', cur.tokenRevoked ? 'yes' : 'no'],
      [
        'not-before marks now',
        [
          cur.notBefore.subject !== undefined
            ? `subject ${new Date(cur.notBefore.subject).toISOString()}`
            : '',
          cur.notBefore.client !== undefined
            ? `client ${new Date(cur.notBefore.client).toISOString()}`
            : '',
          cur.notBefore.all !== undefined ? `all ${new Date(cur.notBefore.all).toISOString()}` : '',
        ]
          .filter(Boolean)
          .join(', ') || 'none',
      ],
    ]);
  }
  doc.table(
    ['time', 'event', 'actor', 'reason', 'tokens issued before'],
    r.revocation.events.map((e) => [e.time, e.type, or(e.actor), or(e.reason), or(e.before)]),
  );
  doc.section('What it did reach: data subjects per category');
  doc.table(
    ['data category', 'data subjects', 'after the leak', 'allowed uses'],
    d.dataSubjectsByCategory.map((x) => [
      x.category,
      x.dataSubjects,
      x.dataSubjectsAfterLeak,
      x.uses,
    ]),
  );
  if (d.allowedWithoutDataSubject > 0) {
    doc.text(
      `${d.allowedWithoutDataSubject} allowed use(s) reached personal data on routes whose events name no data subject.`,
    );
  }
  doc.section('Routes called');
  doc.table(
    ['route', 'allowed', 'denied'],
    d.routes.map((x) => [x.route, x.allowed, x.denied]),
  );
  doc.section('Client addresses (pseudonymised)');
  doc.table(
    ['address', 'uses', 'after the leak'],
    d.clientAddresses.map((x) => [x.address, x.uses, x.afterLeak]),
  );
  doc.section('User agents');
  doc.table(
    ['user agent', 'uses'],
    d.userAgents.map((x) => [x.userAgent, x.uses]),
  );
  doc.section('Uses');
  doc.table(
    [
      'time',
      'method',
      'route',
      'outcome',
      'status',
      'data subject',
      'purpose',
      'address',
      'after leak',
    ],
    d.usesListed.map((u) => [
      u.time,
      or(u.method),
      or(u.route),
      u.reason ? `${u.outcome} (${u.reason})` : u.outcome,
      or(u.status),
      or(u.dataSubject),
      or(u.purpose),
      or(u.clientAddress),
      u.afterLeak ? 'yes' : '',
    ]),
    d.uses,
  );
  return doc.toString();
}

function accessDoc(r: AccessReport, md: boolean): string {
  const doc = new Doc(md);
  doc.title(`Access report: data subject ${r.dataSubject}`);
  header(doc, r);
  doc.section('Summary').fields([
    ['accesses to their data', `${r.accesses} (${r.allowed} allowed, ${r.denied} denied)`],
    ['first', or(r.firstAccess)],
    ['last', or(r.lastAccess)],
    ['clients', r.recipients.length],
    ['tokens', `${r.tokens.length}${r.tokensTruncated ? '+' : ''}`],
  ]);
  doc.section('Who accessed it');
  doc.table(
    [
      'client',
      'accesses',
      'allowed',
      'tokens',
      'first',
      'last',
      'purposes',
      'lawful bases',
      'data categories',
    ],
    r.recipients.map((x) => [
      x.client,
      x.accesses,
      x.allowed,
      x.tokens,
      x.firstAccess,
      x.lastAccess,
      list(x.purposes),
      list(x.lawfulBases),
      list(x.dataCategories),
    ]),
  );
  doc.section('Purposes');
  doc.table(
    ['purpose', 'lawful basis', 'allowed accesses'],
    r.purposes.map((p) => [p.purpose, p.lawfulBasis, p.accesses]),
  );
  doc.section('Data categories');
  doc.table(
    ['data category', 'allowed accesses'],
    r.dataCategories.map((c) => [c.category, c.accesses]),
  );
  doc.section('Consent');
  doc.table(
    ['time', 'event', 'purpose', 'source'],
    r.consent.map((c) => [c.time, c.type, or(c.purpose), or(c.source)]),
  );
  doc.section('Tokens');
  doc.table(
    ['token id', 'client', 'accesses', 'first', 'last'],
    r.tokens.map((t) => [t.tokenId, or(t.client), t.accesses, t.firstAccess, t.lastAccess]),
  );
  doc.section('Accesses');
  doc.table(
    ['time', 'client', 'token id', 'method', 'route', 'outcome', 'purpose', 'lawful basis'],
    r.accessesListed.map((a) => [
      a.time,
      or(a.client),
      or(a.tokenId),
      or(a.method),
      or(a.route),
      a.reason ? `${a.outcome} (${a.reason})` : a.outcome,
      or(a.purpose),
      or(a.lawfulBasis),
    ]),
    r.accesses,
  );
  return doc.toString();
}

function scopesDoc(r: ScopesReport, md: boolean): string {
  const doc = new Doc(md);
  doc.title('Least privilege: scopes granted vs exercised');
  header(doc, r);
  doc.table(
    [
      'client',
      'granted',
      'exercised',
      'to remove',
      'carried, not granted',
      'allowed',
      'denied (scope)',
      'unattributed',
    ],
    r.clients.map((c) => [
      c.inPolicy ? c.client : `${c.client} (not in policy)`,
      list(c.granted),
      list(c.exercised.map((e) => `${e.scope} (${e.uses})`)),
      list(c.toRemove),
      list(c.carriedNotGranted),
      c.allowed,
      `${c.denied} (${c.insufficientScope})`,
      c.unattributed,
    ]),
  );
  const removals = r.clients.filter((c) => c.toRemove.length > 0);
  doc.section('Scopes to remove');
  if (removals.length === 0) doc.text('none: every granted scope was exercised in the period.');
  else doc.fields(removals.map((c) => [c.client, c.toRemove.join(', ')] as const));
  const undeclared = r.clients.filter((c) => !c.inPolicy);
  if (undeclared.length > 0) {
    doc.text(
      `not in the policy (declare them, with only the scopes they need): ${undeclared.map((c) => c.client).join(', ')}`,
    );
  }
  const unattributed = r.clients.filter((c) => c.unattributed > 0);
  if (unattributed.length > 0) {
    doc.text(
      `requests on routes the policy does not list count as using no scope: ${unattributed.map((c) => `${c.client} (${c.unattributed})`).join(', ')}`,
    );
  }
  if (r.clientsNotReported > 0)
    doc.text(`${r.clientsNotReported} more client(s) were seen but not reported.`);
  return doc.toString();
}

function hygieneDoc(r: HygieneReport, md: boolean): string {
  const doc = new Doc(md);
  doc.title('Hygiene report');
  header(doc, r);
  doc.fields([
    ['API keys checked', r.checked.apiKeys === null ? 'not read' : r.checked.apiKeys],
    ['signing keys checked', r.checked.signingKeys === null ? 'not read' : r.checked.signingKeys],
    ['findings', r.findings.length],
  ]);
  doc.table(
    ['severity', 'finding', 'target', 'what to do'],
    r.findings.map((f) => [f.severity, f.kind, f.target, f.message]),
  );
  return doc.toString();
}

/** RFC 4180 CSV: one header line, CRLF line ends, formula-leading cells defused. */
function csv(
  head: readonly string[],
  rows: Iterable<readonly (string | number | boolean | undefined)[]>,
): string {
  let out = head.join(',') + '\r\n';
  for (const row of rows)
    out += row.map((c) => csvCell(c === undefined ? '' : String(c))).join(',') + '\r\n';
  return out;
}

function csvCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function csvOf(report: Report): string {
  switch (report.kind) {
    case 'exposure':
      return csv(
        ['time', 'outcome', ...EXPOSURE_USE_FIELDS, 'afterLeak'],
        report.didReach.usesListed.map((u) => [
          u.time,
          u.outcome,
          ...EXPOSURE_USE_FIELDS.map((field) => u[field]),
          u.afterLeak,
        ]),
      );
    case 'access':
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
    case 'scopes':
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
    case 'hygiene':
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
}

function escapeMd(text: string): string {
  return text.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'));
}

function escapeCell(text: string): string {
  return escapeMd(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
