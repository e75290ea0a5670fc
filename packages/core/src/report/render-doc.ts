import type { ChainVerdict, ReportHeader } from './types';

/** Most rows a Markdown or text rendering lists per table (CSV and JSON list everything kept). */
const MAX_ROWS = 50;

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

/** Builds Markdown or plain text with the same structure. @internal */
export class Doc {
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

/** The report header as fields: period, events read, source, chain verdict, policy. @internal */
export function headerFields(doc: Doc, report: ReportHeader): void {
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

/** A list in a cell, or a dash when empty. @internal */
export const list = (values: readonly string[]) => (values.length === 0 ? '—' : values.join(', '));

/** A value in a cell, or a dash when unknown. @internal */
export const or = (value: string | number | undefined) =>
  value === undefined ? '—' : String(value);

function escapeMd(text: string): string {
  return text.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'));
}

function escapeCell(text: string): string {
  return escapeMd(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
