import { escapeText } from '../audit/escape';
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

/** How a {@link Doc} renders: Markdown, plain text for a terminal, or a self-contained HTML page. */
export type DocMode = 'markdown' | 'text' | 'html';

/**
 * A value the audit trail and the policy cannot give: the controller must fill it in. Rendered as
 * a marked placeholder (`[to complete: …]`), so nobody mistakes it for a finding.
 * @internal
 */
export interface ToFill {
  readonly fill: string;
}

/** A field value: shown as is, left out when `undefined`, or marked to fill. @internal */
export type FieldValue = string | number | undefined | ToFill;

/** A value for the controller to fill in, with what belongs there. @internal */
export const toFill = (hint: string): ToFill => ({ fill: hint });

/**
 * Builds Markdown, plain text or HTML with the same structure: a title, sections, fields, lines
 * of text and tables. The HTML is one page with its style inline and nothing loaded from
 * elsewhere (its Content-Security-Policy forbids it), to be attached to a breach record.
 * @internal
 */
export class Doc {
  private readonly lines: string[] = [];
  private heading = 'Report';
  private inSection = false;
  private readonly sectionIds = new Set<string>();

  constructor(private readonly mode: DocMode) {}

  title(text: string): this {
    if (this.mode === 'html') {
      this.heading = text;
      this.lines.push(`<header><h1>${escapeHtml(text)}</h1></header>`);
    } else {
      this.lines.push(this.mode === 'markdown' ? `# ${text}` : text.toUpperCase(), '');
    }
    return this;
  }
  section(text: string): this {
    if (this.mode === 'html') {
      this.closeSection();
      this.lines.push(`<section id="${this.sectionId(text)}">`, `<h2>${escapeHtml(text)}</h2>`);
      this.inSection = true;
    } else {
      this.lines.push(this.mode === 'markdown' ? `## ${text}` : `${text}:`, '');
    }
    return this;
  }
  fields(rows: readonly (readonly [string, FieldValue])[]): this {
    if (this.mode === 'html') {
      const items = rows.flatMap(([name, value]) =>
        value === undefined ? [] : [`<dt>${escapeHtml(name)}</dt><dd>${this.value(value)}</dd>`],
      );
      if (items.length > 0) this.lines.push('<dl>', ...items, '</dl>');
      return this;
    }
    for (const [name, value] of rows) {
      if (value === undefined) continue;
      this.lines.push(
        this.mode === 'markdown'
          ? `- **${name}**: ${this.value(value)}`
          : `  ${name}: ${this.value(value)}`,
      );
    }
    this.lines.push('');
    return this;
  }
  text(line: string): this {
    if (this.mode === 'html') this.lines.push(`<p>${escapeHtml(line)}</p>`);
    else this.lines.push(this.mode === 'markdown' ? escapeMd(line) : `  ${line}`, '');
    return this;
  }
  table(
    head: readonly string[],
    rows: readonly (readonly (string | number)[])[],
    total = rows.length,
  ): this {
    if (rows.length === 0) {
      if (this.mode === 'html') this.lines.push('<p class="none">none</p>');
      else this.lines.push(this.mode === 'markdown' ? '_none_' : '  (none)', '');
      return this;
    }
    const shown = rows.slice(0, MAX_ROWS);
    const more =
      total > shown.length
        ? `… ${total - shown.length} more: the CSV and JSON formats list up to 10000`
        : undefined;
    if (this.mode === 'html') {
      this.lines.push(
        '<table>',
        `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>`,
        '<tbody>',
        ...shown.map(
          (row) => `<tr>${row.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`,
        ),
        '</tbody>',
        '</table>',
      );
      if (more) this.lines.push(`<p class="more">${escapeHtml(more)}</p>`);
      return this;
    }
    if (this.mode === 'markdown') {
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
    if (more) this.lines.push('', this.mode === 'markdown' ? more : `  ${more}`);
    this.lines.push('');
    return this;
  }
  /** The document; every line with its control, separator and bidi characters escaped. */
  toString(): string {
    const lines = this.lines.map(escapeText);
    if (this.mode === 'html') {
      this.closeSection();
      return htmlPage(escapeText(this.heading), lines.join('\n'));
    }
    return lines.join('\n').replace(/\n+$/, '') + '\n';
  }

  private value(value: string | number | ToFill): string {
    if (typeof value === 'object') {
      if (this.mode === 'html') {
        return `<span class="to-fill">to complete: ${escapeHtml(value.fill)}</span>`;
      }
      return this.mode === 'markdown'
        ? `**[to complete: ${escapeMd(value.fill)}]**`
        : `[TO COMPLETE: ${value.fill}]`;
    }
    if (this.mode === 'html') return escapeHtml(String(value));
    return this.mode === 'markdown' ? escapeMd(String(value)) : String(value);
  }

  private closeSection(): void {
    if (this.inSection) this.lines.push('</section>');
    this.inSection = false;
  }

  /** A unique `id` for a section, from its heading: `what-it-could-reach`. */
  private sectionId(text: string): string {
    const base =
      text
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'section';
    let id = base;
    for (let n = 2; this.sectionIds.has(id); n++) id = `${base}-${n}`;
    this.sectionIds.add(id);
    return id;
  }
}

/** Inline style of the HTML page: readable on screen and in print, no external resource. */
const STYLE = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24;
  background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
header h1 { font-size: 26px; margin: 8px 0 16px; padding-bottom: 8px; border-bottom: 3px solid #1f4e8c; }
section { margin: 28px 0; }
h2 { font-size: 19px; color: #1f4e8c; margin: 0 0 10px; }
dl { display: grid; grid-template-columns: minmax(180px, max-content) 1fr; gap: 4px 18px; margin: 0 0 12px; }
dt { font-weight: 600; color: #3b4452; }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13.5px; }
th, td { border: 1px solid #c9d1db; padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #e8eef6; overflow-wrap: normal; }
tbody tr:nth-child(even) { background: #f6f8fb; }
p.none { color: #6a737d; font-style: italic; }
p.more { color: #6a737d; }
.to-fill { background: #fff3bf; border: 1px dashed #c99a00; padding: 0 4px; font-style: italic; }
@media print { main { max-width: none; padding: 0; } section { break-inside: avoid-page; } }
`;

/** A whole HTML page around `body`; `title` is plain text. */
function htmlPage(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="tokenwarden">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    body,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
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

/** Text as HTML: `&`, `<`, `>` and quotes escaped. @internal */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeMd(text: string): string {
  return text.replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'));
}

function escapeCell(text: string): string {
  return escapeMd(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
