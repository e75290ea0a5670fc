import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { METRICS } from '@tokenwarden/core';

/** The repository root. */
export const ROOT = join(__dirname, '..', '..');
export const OPS = join(ROOT, 'examples', 'ops');
export const PREFIX = 'tokenwarden_';

/** Every metric Tokenwarden defines, by full name, with its label names. */
export const DEFINED = new Map<string, readonly string[]>(
  Object.values(METRICS).map((spec) => [PREFIX + spec.name, spec.labels]),
);

/** One row of the checked table in docs/metrics.md. */
export interface CatalogEntry {
  readonly name: string;
  readonly type: string;
  readonly unit: string;
  /** Label names in the order documented. */
  readonly labels: readonly string[];
  /** Each label's documented value set, when the table lists the values themselves. */
  readonly values: ReadonlyMap<string, ReadonlySet<string>>;
}

/** docs/metrics.md, parsed: the checked table and the decision reasons it lists. */
export interface Catalog {
  readonly entries: ReadonlyMap<string, CatalogEntry>;
  readonly allowReasons: ReadonlySet<string>;
  readonly denyReasons: ReadonlySet<string>;
  readonly text: string;
}

export function readCatalog(): Catalog {
  const text = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const entries = new Map<string, CatalogEntry>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // '| `name` | type | labels | unit |' splits into ['', name, type, labels, unit, ''].
    const name = /^`(tokenwarden_[a-z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!name || cells.length !== 6) continue;
    const labels: string[] = [];
    const values = new Map<string, Set<string>>();
    if (cells[3] !== 'none') {
      for (const part of cells[3]!.split(';')) {
        const match = /^\s*`([a-z_]+)`:\s*(.*)$/.exec(part);
        if (!match) throw new Error(`docs/metrics.md: cannot read the label "${part}" of ${name}`);
        labels.push(match[1]!);
        const listed = match[2]!.trim();
        if (/^[a-z_]+(, [a-z_]+)*$/.test(listed))
          values.set(match[1]!, new Set(listed.split(', ')));
      }
    }
    entries.set(name, { name, type: cells[2]!, unit: cells[4]!, labels, values });
  }
  const reasons = section(text, '### Decision reasons');
  const [allowPart, denyPart] = reasons.split('For `outcome="deny"`');
  return {
    entries,
    allowReasons: new Set(bulletCodes(allowPart ?? '')),
    denyReasons: new Set(bulletCodes(denyPart ?? '')),
    text,
  };
}

/** The text from `heading` to the next heading of any level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(heading);
  if (start < 0) throw new Error(`docs/metrics.md has no "${heading}"`);
  const rest = text.slice(start + heading.length);
  const end = rest.search(/\n#+ /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The backticked codes at the start of bullet lines (all of them on a `- \`a\`, \`b\`` line). */
function bulletCodes(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('- `'))
    .flatMap((l) => {
      const list = l.split(':')[0]!;
      return [...list.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    });
}

/** The string members of `export type <name> = 'a' | 'b' ...;` in a source file. */
export function unionMembers(file: string, typeName: string): string[] {
  const source = readFileSync(join(ROOT, file), 'utf8');
  const match = new RegExp(`export type ${typeName} =([^;]+);`).exec(source);
  if (!match) throw new Error(`${file} has no union type ${typeName}`);
  return [...match[1]!.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels`, or 0 if none. */
export function valueOf(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match`);
  return found[0]?.value ?? 0;
}

/** The metric families a PromQL expression reads (`_bucket`, `_sum`, `_count` of histograms
 * folded into the histogram's name). */
export function metricsIn(expr: string, histograms: ReadonlySet<string>): Set<string> {
  const names = new Set<string>();
  // Strip label matchers and strings first, so label values never look like metric names.
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of bare.matchAll(/\b(tokenwarden_[a-z0-9_]+)/g)) {
    const name = m[1]!;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    names.add(base !== name && histograms.has(base) ? base : name);
  }
  return names;
}

/** The path of a binary on PATH, or undefined. */
export function which(binary: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The path of `prometheus` or `promtool`; throws saying how to install it when missing. */
export function requireBinary(binary: 'prometheus' | 'promtool'): string {
  const found = which(binary);
  if (!found) {
    throw new Error(
      `${binary} is not installed: run \`bash scripts/ensure-prometheus.sh\` ` +
        '(or `apt-get install prometheus`), then run the ops tests again',
    );
  }
  return found;
}

/** Runs a command with `input` on stdin; resolves with its exit code and output. */
export function runWithInput(
  command: string,
  args: readonly string[],
  input: string,
  cwd = ROOT,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

/** What {@link driveTraffic} sent, by the decision each request must get. */
export interface Traffic {
  /** GET /customers/c-1001 with customers:read: allow, lawful_basis. */
  readonly allowed: number;
  /** The same without a token: deny, token_missing. */
  readonly missing: number;
  /** PUT /customers/c-1001 with customers:read only: deny, insufficient_scope. */
  readonly forbidden: number;
}

/** One HTTP exchange on a fresh connection (so a cluster spreads them over its workers). */
export function send(
  url: string,
  options: { method?: string; token?: string; body?: unknown } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          connection: 'close',
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends a known mix of allowed and denied requests to one of the example APIs and checks each
 * answer's status, so the metrics can be compared with what was sent.
 */
export async function driveTraffic(
  baseUrl: string,
  token: string,
  traffic: Traffic,
  onAnswer: (answer: { status: number; headers: Record<string, unknown> }) => void = () => {},
): Promise<void> {
  const expect = async (
    status: number,
    answer: Promise<{ status: number; headers: Record<string, unknown> }>,
  ) => {
    const got = await answer;
    if (got.status !== status) throw new Error(`expected ${status}, got ${got.status}`);
    onAnswer(got);
  };
  const customer = `${baseUrl}/customers/c-1001`;
  for (let i = 0; i < traffic.allowed; i += 1) await expect(200, send(customer, { token }));
  for (let i = 0; i < traffic.missing; i += 1) await expect(401, send(customer));
  for (let i = 0; i < traffic.forbidden; i += 1) {
    await expect(403, send(customer, { method: 'PUT', token, body: { email: 'x@example.test' } }));
  }
}

/** The parts of a Grafana dashboard the tests read. */
export interface Dashboard {
  readonly title: string;
  readonly panels: readonly {
    readonly id: number;
    readonly type: string;
    readonly title: string;
    readonly datasource?: unknown;
    readonly targets?: readonly { readonly expr: string }[];
  }[];
  readonly templating: {
    readonly list: readonly { readonly name: string; readonly definition?: string }[];
  };
}

/** examples/ops/grafana/tokenwarden-dashboard.json, parsed. */
export function readDashboard(): Dashboard {
  return JSON.parse(
    readFileSync(join(OPS, 'grafana', 'tokenwarden-dashboard.json'), 'utf8'),
  ) as Dashboard;
}

/** Every PromQL query of the dashboard: panel targets and variable definitions. */
export function dashboardQueries(dashboard: Dashboard): { title: string; expr: string }[] {
  return [
    ...dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
    ),
    ...dashboard.templating.list
      .filter((v) => v.definition !== undefined)
      .map((v) => ({ title: `variable ${v.name}`, expr: v.definition! })),
  ];
}
