import { describe, expect, it } from '@jest/globals';
import type { Sample } from './harness';
import { formatSpread, goals, markdownTable, spread, summarise, type Row } from './table';

function sample(rps: number, cpuPerRequest: number, p99: number): Sample {
  return {
    rps,
    p50: 1,
    p99,
    non2xx: 0,
    errors: 0,
    requests: rps * 10,
    cpuPerRequest,
    systemPerRequest: 0,
    gcPerRequest: 1,
  };
}

const rows: Row[] = [
  { name: 'koa', server: 'koa', tokens: 'none', baseline: 'koa' },
  { name: 'koa-jwt HS256', server: 'koa-jwt', tokens: 'pool', alg: 'HS256', baseline: 'koa' },
  {
    name: 'koa tw full HS256',
    server: 'koa tw',
    tokens: 'pool',
    alg: 'HS256',
    baseline: 'koa',
    versus: 'koa-jwt HS256',
    goal: 'warm',
  },
];

describe('bench table', () => {
  it('takes the median and range of per-round figures', () => {
    expect(spread([3, 1, 2, 10])).toEqual({ median: 2.5, min: 1, max: 10 });
    expect(formatSpread({ median: 12.4, min: -0.2, max: 20 }, 0, true)).toBe('+12 (0 – +20)');
    expect(formatSpread(undefined, 2)).toBe('');
  });

  it('compares every row with its baseline and peer of the same round', () => {
    // Round 2 is twice as fast for every server: per-round ratios do not move.
    const samples = new Map([
      ['koa', [sample(1000, 100, 10), sample(2000, 50, 5), sample(1000, 100, 10)]],
      ['koa-jwt HS256', [sample(100, 1000, 50), sample(200, 500, 25), sample(100, 1000, 50)]],
      ['koa tw full HS256', [sample(800, 125, 11), sample(1600, 62.5, 5.5), sample(500, 200, 30)]],
    ]);
    const [bare, peer, tw] = summarise(rows, samples);
    expect(bare!.ratio).toEqual({ median: 1, min: 1, max: 1 });
    expect(peer!.ratio.median).toBeCloseTo(0.1);
    expect(tw!.ratio).toEqual({ median: 0.8, min: 0.5, max: 0.8 });
    expect(tw!.addedCpu).toEqual({ median: 25, min: 12.5, max: 100 });
    expect(tw!.cpuRatio).toEqual({ median: 0.8, min: 0.5, max: 0.8 });
    expect(tw!.consistent).toBe(true);
    expect(tw!.p99Ratio.median).toBeCloseTo(1.1);
    expect(tw!.versusRatio!.median).toBeCloseTo(8);
    const table = markdownTable([bare!, peer!, tw!]);
    expect(table[4]).toMatch(
      /^\| koa tw full HS256 \(vs koa\) \| 0\.80 \(0\.50 – 0\.80\) \| \+25 /,
    );
    const lines = goals(rows, [bare!, peer!, tw!]);
    expect(lines.some((l) => /MISS koa tw full HS256: \+ server CPU \+25/.test(l))).toBe(true);
    expect(lines.some((l) => /met {2}koa tw full HS256: p99 1\.10/.test(l))).toBe(true);
    expect(lines.some((l) => /met {2}koa tw full HS256: 8\.00 .* × koa-jwt HS256/.test(l))).toBe(
      true,
    );
  });

  it('flags a row whose throughput and CPU ratios disagree', () => {
    // Throughput halves while CPU per request does not move: the server was not the bottleneck.
    const samples = new Map([
      ['koa', [sample(1000, 100, 10), sample(1000, 100, 10)]],
      ['koa-jwt HS256', [sample(500, 100, 10), sample(500, 100, 10)]],
    ]);
    const [, peer] = summarise(rows.slice(0, 2), samples);
    expect(peer!.consistent).toBe(false);
    expect(markdownTable([peer!])[2]).toContain('⚠');
  });
});
