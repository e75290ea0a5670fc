import { describe, expect, it } from '@jest/globals';
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { LocalCounter, LocalHistogram } from '../../src/metrics/local';

/** The exposition text of one metric. */
async function text(metric: unknown): Promise<string> {
  const registry = new Registry();
  registry.registerMetric(metric as Metric);
  return registry.metrics();
}

describe('local request-path metrics', () => {
  it('expose exactly what prom-client histograms expose for the same observations', async () => {
    const buckets = [0.001, 0.01, 0.1, 1];
    const theirs = new Histogram({
      name: 'h',
      help: 'help',
      labelNames: ['o'],
      buckets,
      registers: [],
    });
    const ours = new LocalHistogram('h', 'help', ['o'], buckets);
    for (const [o, v] of [
      ['a', 0.001],
      ['a', 0.0005],
      ['b', 0.5],
      ['a', 7],
      ['b', 0.01],
    ] as const) {
      theirs.labels(o).observe(v);
      ours.labels(o).observe(v);
    }
    expect(await text(ours)).toBe(await text(theirs));
    // The same JSON for cluster aggregation (prom-client adds an empty exemplar slot).
    const plain = (await theirs.get()).values.map(({ labels, value, metricName }) => ({
      labels,
      value,
      metricName,
    }));
    expect((await ours.get()).values).toEqual(plain);
  });

  it('expose exactly what prom-client counters expose, and reset to zero', async () => {
    const theirs = new Counter({ name: 'c_total', help: 'help', labelNames: ['r'], registers: [] });
    const ours = new LocalCounter('c_total', 'help', ['r']);
    for (const r of ['x', 'y', 'x']) {
      theirs.labels(r).inc();
      ours.labels(r).inc();
    }
    ours.labels('x').inc(3);
    theirs.labels('x').inc(3);
    expect(await text(ours)).toBe(await text(theirs));
    ours.reset();
    expect((await ours.get()).values.map((v) => v.value)).toEqual([0, 0]);
  });

  it('refuses a wrong number of label values', () => {
    expect(() => new LocalCounter('c_total', 'help', ['a', 'b']).labels('only-one')).toThrow(
      TypeError,
    );
  });
});
