/**
 * The figures `pnpm bench` reports (test/bench/run.ts): per-round ratios and CPU differences
 * against the bare framework, their median and range, the README's markdown table and issue 21's
 * goals. Pure functions, tested in test/bench/table.test.ts.
 */
import type { Sample } from './harness';
import type { BenchAlgorithm } from './shared';

/** Issue 21's goals for the full configuration. */
export const GOAL = { addedCpu: 15, p99Ratio: 1.2, coldRatio: 0.75, versusPeer: 3 } as const;

/** One row of the table: a server, the tokens it gets, and the rows it is compared with. */
export interface Row {
  readonly name: string;
  readonly server: string;
  readonly tokens: 'none' | 'pool' | 'cold';
  readonly alg?: BenchAlgorithm;
  /** The bare framework of the same round. */
  readonly baseline: string;
  /** The JWT peer middleware with the same algorithm, for the "× peer" column. */
  readonly versus?: string;
  /** Counted against the goals: `warm` (full, pooled tokens) or `cold`. */
  readonly goal?: 'warm' | 'cold';
  /** A diagnostic row, run only with BENCH_EXTRA=1 (or when named in BENCH_ONLY). */
  readonly extra?: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median and range of one figure over the rounds. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** One row's figures over the rounds. */
export interface RowResult {
  readonly name: string;
  readonly baseline: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Server CPU per request (µs), and the GC pause part of it. */
  readonly cpuPerRequest: Spread;
  readonly gcPerRequest: number;
  /** req/s over the baseline's, per round. */
  readonly ratio: Spread;
  /** Server CPU per request minus the baseline's (µs), per round. */
  readonly addedCpu: Spread;
  /** The baseline's CPU per request over this row's, per round: the ratio CPU alone predicts. */
  readonly cpuRatio: Spread;
  /** p99 latency over the baseline's, per round. */
  readonly p99Ratio: Spread;
  readonly versus: string | undefined;
  /** req/s over the peer middleware's, per round. */
  readonly versusRatio: Spread | undefined;
  /** Whether `ratio` and `cpuRatio` agree within their ranges (plus 3% each way). */
  readonly consistent: boolean;
  readonly non2xx: number;
  readonly errors: number;
}

/** Per-round figures of every row against its baseline and peer. */
export function summarise(
  rows: readonly Row[],
  samples: ReadonlyMap<string, readonly Sample[]>,
): RowResult[] {
  const perRound = (name: string, other: string, f: (a: Sample, b: Sample) => number) => {
    const a = samples.get(name)!;
    const b = samples.get(other)!;
    return spread(a.map((s, i) => f(s, b[i]!)));
  };
  return rows.map((row) => {
    const list = samples.get(row.name)!;
    const ratio = perRound(row.name, row.baseline, (a, b) => a.rps / b.rps);
    const cpuRatio = perRound(row.name, row.baseline, (a, b) => b.cpuPerRequest / a.cpuPerRequest);
    const slack = 0.03;
    return {
      name: row.name,
      baseline: row.baseline,
      rps: Math.round(median(list.map((s) => s.rps))),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      cpuPerRequest: spread(list.map((s) => s.cpuPerRequest)),
      gcPerRequest: median(list.map((s) => s.gcPerRequest)),
      ratio,
      addedCpu: perRound(row.name, row.baseline, (a, b) => a.cpuPerRequest - b.cpuPerRequest),
      cpuRatio,
      p99Ratio: perRound(row.name, row.baseline, (a, b) => a.p99 / b.p99),
      versus: row.versus,
      versusRatio:
        row.versus !== undefined && samples.has(row.versus)
          ? perRound(row.name, row.versus, (a, b) => a.rps / b.rps)
          : undefined,
      consistent:
        ratio.min <= cpuRatio.max * (1 + slack) && cpuRatio.min <= ratio.max * (1 + slack),
      non2xx: list.reduce((n, s) => n + s.non2xx, 0),
      errors: list.reduce((n, s) => n + s.errors, 0),
    };
  });
}

const fixed = (n: number, digits: number) => n.toFixed(digits).replace(/^-0(\.0*)?$/, '0$1');

/** `median (min–max)`. */
export function formatSpread(s: Spread | undefined, digits: number, sign = false): string {
  if (s === undefined) return '';
  const f = (n: number) => (sign && n > 0 ? '+' : '') + fixed(n, digits);
  return `${f(s.median)} (${f(s.min)} – ${f(s.max)})`;
}

/** The README's table: one line per row. */
export function markdownTable(table: readonly RowResult[]): string[] {
  return [
    '| configuration | × bare | + server CPU µs/req | × bare from CPU | p99 × bare | req/s | server CPU µs/req (GC) | × JWT peer |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...table.map((r) => {
      const bare = r.name === r.baseline;
      return (
        `| ${r.name}${bare ? '' : ` (vs ${r.baseline})`}${r.consistent ? '' : ' ⚠'} | ` +
        `${bare ? '1' : formatSpread(r.ratio, 2)} | ${bare ? '0' : formatSpread(r.addedCpu, 0, true)} | ` +
        `${bare ? '1' : formatSpread(r.cpuRatio, 2)} | ${bare ? '1' : formatSpread(r.p99Ratio, 2)} | ` +
        `${r.rps} | ${fixed(r.cpuPerRequest.median, 0)} (${fixed(r.gcPerRequest, 0)}) | ` +
        `${r.versusRatio === undefined ? '' : `${formatSpread(r.versusRatio, 2)} vs ${r.versus}`} |`
      );
    }),
  ];
}

/** Issue 21's goals, each met or missed, judged on the medians (the range shown alongside). */
export function goals(rows: readonly Row[], table: readonly RowResult[]): string[] {
  const lines: string[] = [];
  const byName = new Map(table.map((r) => [r.name, r]));
  const verdict = (ok: boolean) => (ok ? 'met ' : 'MISS');
  for (const row of rows) {
    const r = byName.get(row.name)!;
    if (row.goal === 'warm') {
      lines.push(
        `  ${verdict(r.addedCpu.median <= GOAL.addedCpu)} ${row.name}: + server CPU ${formatSpread(r.addedCpu, 0, true)} µs/req (goal ≤ ${GOAL.addedCpu})`,
        `  ${verdict(r.p99Ratio.median <= GOAL.p99Ratio)} ${row.name}: p99 ${formatSpread(r.p99Ratio, 2)} × ${r.baseline} (goal ≤ ${GOAL.p99Ratio})`,
      );
    }
    if (row.goal === 'cold') {
      lines.push(
        `  ${verdict(r.ratio.median >= GOAL.coldRatio)} ${row.name}: ${formatSpread(r.ratio, 2)} × ${r.baseline} (goal ≥ ${GOAL.coldRatio})`,
      );
    }
    // The ≥ 3 × goal is against the JWT middleware packages (express-jwt, koa-jwt); the Nest
    // guard over jsonwebtoken is shown for comparison only.
    if (
      row.goal !== undefined &&
      r.versusRatio !== undefined &&
      /^(express|koa)-jwt /.test(r.versus ?? '')
    ) {
      lines.push(
        `  ${verdict(r.versusRatio.median >= GOAL.versusPeer)} ${row.name}: ${formatSpread(r.versusRatio, 2)} × ${r.versus} (goal ≥ ${GOAL.versusPeer})`,
      );
    }
  }
  return lines;
}
