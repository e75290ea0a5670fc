import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { ConfigError } from '../errors';
import { LocalCounter, LocalHistogram } from './local';
import type { CheckOutcome, MetricsOptions, WardenMetrics } from './types';
import { METRICS } from './names';

type Spec = (typeof METRICS)[keyof typeof METRICS];

/** The only module that touches prom-client. Looks metrics up before creating them, so several
 * wardens can share one registry. */
export function createPrometheusMetrics(options: MetricsOptions = {}): WardenMetrics & {
  readonly registry: Registry;
} {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'tokenwarden_';

  /** The registry's metric of that name, or a new one: several wardens may share a registry. */
  function registered<M>(spec: Spec, create: (name: string) => M): M {
    const name = prefix + spec.name;
    return (registry.getSingleMetric(name) as M | undefined) ?? create(name);
  }
  function counter<L extends string>(spec: Spec & { labels: readonly L[] }): Counter<L> {
    return registered(
      spec,
      (name) =>
        new Counter<L>({ name, help: spec.help, labelNames: spec.labels, registers: [registry] }),
    );
  }
  function gauge(spec: Spec, aggregator: 'sum' | 'max' = 'sum'): Gauge {
    return registered(
      spec,
      (name) =>
        new Gauge({ name, help: spec.help, labelNames: [], registers: [registry], aggregator }),
    );
  }
  /** Request-path metrics: recorded with plain arithmetic, read by the registry on scrape. */
  function local<M extends LocalCounter | LocalHistogram>(
    spec: Spec,
    kind: new (...args: never[]) => M,
    create: (name: string) => M,
  ): M {
    const name = prefix + spec.name;
    const existing = registry.getSingleMetric(name) as unknown;
    if (existing !== undefined) {
      if (existing instanceof kind) return existing;
      throw new ConfigError(
        `metrics: '${name}' is already registered in this registry by something else; use another prefix`,
      );
    }
    const metric = create(name);
    registry.registerMetric(metric as unknown as Metric);
    return metric;
  }
  function localCounter(spec: Spec): LocalCounter {
    return local(spec, LocalCounter, (name) => new LocalCounter(name, spec.help, spec.labels));
  }
  function localHistogram(spec: Spec, buckets: readonly number[]): LocalHistogram {
    return local(
      spec,
      LocalHistogram,
      (name) => new LocalHistogram(name, spec.help, spec.labels, buckets),
    );
  }
  function histogram<L extends string>(
    spec: Spec & { labels: readonly L[] },
    buckets: number[],
  ): Histogram<L> {
    return registered(
      spec,
      (name) =>
        new Histogram<L>({
          name,
          help: spec.help,
          labelNames: spec.labels,
          buckets,
          registers: [registry],
        }),
    );
  }

  const fast = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  const decisions = localCounter(METRICS.decisions);
  const decisionDuration = localHistogram(METRICS.decisionDuration, fast);
  const tokenAge = localHistogram(METRICS.tokenAge, [1, 10, 60, 300, 900, 1800, 3600, 7200, 86400]);
  const scopeChecks = localCounter(METRICS.scopeChecks);
  const consentChecks = localCounter(METRICS.consentChecks);
  const storeDuration = localHistogram(METRICS.storeDuration, fast);
  const storeErrors = localCounter(METRICS.storeErrors);
  // A process that finds the state lost reports 1; cluster aggregation keeps the worst.
  const storeStateLost = gauge(METRICS.storeStateLost, 'max');
  const storeStateLosses = counter(METRICS.storeStateLosses);
  const revocations = counter(METRICS.revocations);
  const credentialExposed = counter(METRICS.credentialExposed);
  const auditEvents = counter(METRICS.auditEvents);
  const auditQueueDepth = queueDepth(registry, prefix + METRICS.auditQueueDepth.name);
  const auditSinkDuration = histogram(METRICS.auditSinkDuration, fast);
  const cacheLookups = localCounter(METRICS.cacheLookups);
  const tokensIssued = counter(METRICS.tokensIssued);
  const signingKeyRotations = counter(METRICS.signingKeyRotations);
  // Shared state, the same in every process: cluster aggregation takes the max, not the sum.
  const signingKeyAge = gauge(METRICS.signingKeyAge, 'max');
  const apiKeysExpiringSoon = gauge(METRICS.apiKeysExpiringSoon, 'max');
  const refreshReuse = counter(METRICS.refreshReuseDetected);
  const tokenLifetime = localHistogram(
    METRICS.tokenLifetime,
    [60, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400],
  );
  const dpopChecks = localCounter(METRICS.dpopChecks);
  const usageLimitChecks = localCounter(METRICS.usageLimitChecks);
  const keySourceFetches = counter(METRICS.keySourceFetches);
  const dpopChild = memo((result: string) => dpopChecks.labels(result));
  const limitChild = memo((_key: string, rule: string, outcome: string) =>
    usageLimitChecks.labels(rule, outcome),
  );
  const tokenAgeAll = tokenAge.labels();
  const tokenLifetimeAll = tokenLifetime.labels();

  // Hot-path children bound once, or on first use for label values known only at run time (all
  // from bounded sets: reasons, purposes, operations).
  const durationAllow = decisionDuration.labels('allow');
  const durationDeny = decisionDuration.labels('deny');
  const scopePass = scopeChecks.labels('pass');
  const scopeFail = scopeChecks.labels('fail');
  const sinkOk = auditSinkDuration.labels('ok');
  const sinkError = auditSinkDuration.labels('error');
  // Label values come as separate strings: looking them up level by level allocates nothing
  // (a joined key would be a new string to build and hash on every call).
  const decisionChild = memo2((outcome: string, reason: string) =>
    decisions.labels(outcome, reason),
  );
  const consentChild = memo3((purpose: string, outcome: string, reason: string) =>
    consentChecks.labels(purpose, outcome, reason),
  );
  const storeChild = memo((operation: string) => storeDuration.labels(operation));
  const storeErrorChild = memo((operation: string) => storeErrors.labels(operation));
  // Callers pass policy clients only; past MAX_CLIENT_LABELS distinct values (a caller that
  // passes raw input), further clients are counted as 'other' so the series stay bounded.
  const issuedChild = memo((client: string) => tokensIssued.labels(client));
  const issuedClients = new Set<string>();
  const cacheChild = memo2((cache: string, result: string) => cacheLookups.labels(cache, result));

  return {
    registry,
    contentType: registry.contentType,
    decision(outcome, reason, seconds) {
      decisionChild(outcome, reason).inc();
      (outcome === 'allow' ? durationAllow : durationDeny).observe(seconds);
    },
    tokenAge(seconds) {
      tokenAgeAll.observe(seconds);
    },
    scopeCheck(outcome: CheckOutcome) {
      (outcome === 'pass' ? scopePass : scopeFail).inc();
    },
    consentCheck(purpose, outcome, reason) {
      consentChild(purpose, outcome, reason).inc();
    },
    storeCall(operation, seconds, failed) {
      storeChild(operation).observe(seconds);
      if (failed) storeErrorChild(operation).inc();
    },
    storeStateLost(lost) {
      storeStateLost.set(lost ? 1 : 0);
      if (lost) storeStateLosses.inc();
    },
    revocation(kind) {
      revocations.labels(kind).inc();
    },
    auditEvents(result, count) {
      auditEvents.labels(result).inc(count);
    },
    auditQueueDepth(depth) {
      auditQueueDepth.depth = depth;
    },
    auditSinkWrite(seconds, failed) {
      (failed ? sinkError : sinkOk).observe(seconds);
    },
    cacheLookup(cache, result) {
      cacheChild(cache, result).inc();
    },
    tokenIssued(client) {
      if (!issuedClients.has(client)) {
        if (issuedClients.size >= MAX_CLIENT_LABELS) client = 'other';
        else issuedClients.add(client);
      }
      issuedChild(client).inc();
    },
    signingKeyRotation() {
      signingKeyRotations.inc();
    },
    signingKeyAge(seconds) {
      signingKeyAge.set(seconds);
    },
    apiKeysExpiringSoon(count) {
      apiKeysExpiringSoon.set(count);
    },
    refreshReuseDetected() {
      refreshReuse.inc();
    },
    tokenLifetime(seconds) {
      tokenLifetimeAll.observe(seconds);
    },
    dpopCheck(result) {
      dpopChild(result).inc();
    },
    usageLimit(rule, outcome) {
      limitChild(rule + ' ' + outcome, rule, outcome).inc();
    },
    keySourceFetch(source, outcome) {
      keySourceFetches.labels(source, outcome).inc();
    },
    credentialExposed(place) {
      credentialExposed.labels(place).inc();
    },
    render: () => registry.metrics(),
  };
}

/** Most distinct `client` label values of `tokens_issued_total`; later ones become `other`. */
const MAX_CLIENT_LABELS = 200;

/** Metrics that record nothing, for `metrics: false`. */
export const noopMetrics: WardenMetrics = {
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  decision() {},
  tokenAge() {},
  scopeCheck() {},
  consentCheck() {},
  storeCall() {},
  storeStateLost() {},
  revocation() {},
  auditEvents() {},
  auditQueueDepth() {},
  auditSinkWrite() {},
  cacheLookup() {},
  tokenIssued() {},
  signingKeyRotation() {},
  signingKeyAge() {},
  apiKeysExpiringSoon() {},
  refreshReuseDetected() {},
  tokenLifetime() {},
  dpopCheck() {},
  usageLimit() {},
  keySourceFetch() {},
  credentialExposed() {},
  render: async () => '',
};

/** Memoises a look-up by two strings, one map level each. */
function memo2<R>(create: (a: string, b: string) => R) {
  const children = new Map<string, Map<string, R>>();
  return (a: string, b: string): R => {
    let level = children.get(a);
    if (level === undefined) children.set(a, (level = new Map()));
    let child = level.get(b);
    if (child === undefined) level.set(b, (child = create(a, b)));
    return child;
  };
}

/** Memoises a look-up by three strings, one map level each. */
function memo3<R>(create: (a: string, b: string, c: string) => R) {
  const children = new Map<string, (b: string, c: string) => R>();
  return (a: string, b: string, c: string): R => {
    let level = children.get(a);
    if (level === undefined) children.set(a, (level = memo2((y, z) => create(a, y, z))));
    return level(b, c);
  };
}

/** One warden's contribution to a queue-depth gauge. */
interface DepthSource {
  depth: number;
}

/** The wardens that report to each queue-depth gauge this module created. */
const depthSources = new WeakMap<Gauge, Set<WeakRef<DepthSource>>>();

/**
 * The audit queue depth of one warden: the trail sets a number on every event, and the gauge adds
 * up the depths of every warden sharing the registry when it is scraped (`collect`), so the
 * request path never touches prom-client.
 */
function queueDepth(registry: Registry, name: string): DepthSource {
  const source: DepthSource = { depth: 0 };
  let gauge = registry.getSingleMetric(name) as Gauge | undefined;
  if (gauge === undefined) {
    const sources = new Set<WeakRef<DepthSource>>();
    gauge = new Gauge({
      name,
      help: METRICS.auditQueueDepth.help,
      labelNames: [],
      registers: [registry],
      aggregator: 'sum',
      collect() {
        let sum = 0;
        for (const ref of sources) {
          const live = ref.deref();
          if (live === undefined) sources.delete(ref);
          else sum += live.depth;
        }
        this.set(sum);
      },
    });
    depthSources.set(gauge, sources);
  }
  const sources = depthSources.get(gauge);
  if (sources !== undefined) {
    sources.add(new WeakRef(source));
    return source;
  }
  // A gauge registered by something else: set it on every report, as prom-client does.
  const foreign = gauge;
  return {
    get depth() {
      return source.depth;
    },
    set depth(depth: number) {
      source.depth = depth;
      foreign.set(depth);
    },
  };
}

/** Memoises a label look-up by its first argument (the joined label values). */
function memo<A extends unknown[], R>(create: (key: string, ...rest: A) => R) {
  const children = new Map<string, R>();
  return (key: string, ...rest: A): R => {
    let child = children.get(key);
    if (child === undefined) {
      child = create(key, ...rest);
      children.set(key, child);
    }
    return child;
  };
}
