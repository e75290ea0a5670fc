/**
 * Counters and histograms for the request path, registered in a prom-client registry like any
 * other metric (same exposition, same JSON for cluster aggregation), but recording with plain
 * number arithmetic on pre-bound children: no label hashing or validation per observation.
 */

type Labels = Readonly<Record<string, string>>;

/** One value of a metric as prom-client's registry reads it. */
interface MetricValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

/** What prom-client's registry needs from a metric. */
interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{
    name: string;
    help: string;
    type: 'counter' | 'histogram';
    aggregator: 'sum';
    values: MetricValue[];
  }>;
  reset(): void;
}

/** A counter child: `inc()` is one addition. */
export class CounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** A histogram child: `observe()` is a short bucket scan and three additions. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

abstract class LocalMetric<C extends { labels: Labels }> implements RegistryMetric {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  protected readonly children = new Map<string, C>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The child for these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): C {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (child === undefined) {
      if (values.length !== this.labelNames.length) {
        throw new TypeError(`${this.name}: expected ${this.labelNames.length} label values`);
      }
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      child = this.create(labels);
      this.children.set(key, child);
    }
    return child;
  }

  protected abstract create(labels: Labels): C;
  protected abstract values(): MetricValue[];
  abstract reset(): void;

  async get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.values(),
    };
  }
}

/** A counter of the request path. */
export class LocalCounter extends LocalMetric<CounterChild> {
  readonly type = 'counter' as const;
  protected create(labels: Labels): CounterChild {
    return new CounterChild(labels);
  }
  protected values(): MetricValue[] {
    return [...this.children.values()].map((c) => ({ labels: c.labels, value: c.value }));
  }
  reset(): void {
    for (const child of this.children.values()) child.value = 0;
  }
}

/** A histogram of the request path; buckets are upper bounds, like prom-client's `le`. */
export class LocalHistogram extends LocalMetric<HistogramChild> {
  readonly type = 'histogram' as const;
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  protected create(labels: Labels): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }
  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += child.counts[i]!;
        out.push({
          labels: { le, ...child.labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      out.push({
        labels: { le: '+Inf', ...child.labels },
        value: child.count,
        metricName: `${this.name}_bucket`,
      });
      out.push({ labels: child.labels, value: child.sum, metricName: `${this.name}_sum` });
      out.push({ labels: child.labels, value: child.count, metricName: `${this.name}_count` });
    }
    return out;
  }
  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }
}
