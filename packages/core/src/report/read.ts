import type { AuditEvent } from '../audit';
import type { Policy, PolicyRoute } from '../policy/types';
import { StreamingChainCheck } from './chain-check';
import type { AuditSource, ReportHeader, ReportOptions } from './types';

/**
 * Reads the trail once for a report: every event in the period goes to `visit` and to the
 * chain check; returns the report header (period, events read, chain verdict).
 * @internal
 */
export async function readTrail(
  source: AuditSource,
  options: ReportOptions,
  policy: Policy | undefined,
  visit: (event: AuditEvent, time: number) => void,
): Promise<ReportHeader> {
  const check = new StreamingChainCheck(options.chainKey);
  let first: number | undefined;
  let last: number | undefined;
  let read = 0;
  for await (let event of source.read({
    since: options.since,
    until: options.until,
    onProgress: options.onProgress,
    onUnreadable: (where) => check.unreadableEntry(where),
  })) {
    read += 1;
    check.add(event);
    // The chain covers the stored form; reports read the opened one.
    if (options.subjects !== undefined && event.sealed !== undefined) {
      event = await options.subjects.open(event);
    }
    const time = Date.parse(event.time);
    if (Number.isFinite(time)) {
      if (first === undefined || time < first) first = time;
      if (last === undefined || time > last) last = time;
    }
    visit(event, time);
  }
  const now = (options.now ?? Date.now)();
  return {
    generatedAt: new Date(now).toISOString(),
    source: source.description,
    period: {
      ...(options.since !== undefined ? { since: iso(options.since) } : {}),
      ...(options.until !== undefined ? { until: iso(options.until) } : {}),
      ...(first !== undefined ? { firstEvent: iso(first) } : {}),
      ...(last !== undefined ? { lastEvent: iso(last) } : {}),
    },
    eventsRead: read,
    chain: check.verdict(),
    policy: policy !== undefined,
  };
}

/** Epoch ms as ISO 8601. @internal */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * What the policy says about routes and scopes, indexed for look-ups per event.
 * @internal
 */
export class PolicyView {
  private readonly routes = new Map<string, PolicyRoute>();
  private readonly anyMethod = new Map<string, PolicyRoute>();

  constructor(readonly policy: Policy | undefined) {
    for (const route of policy?.routes ?? []) {
      if (route.method === '*') this.anyMethod.set(route.path, route);
      else this.routes.set(`${route.method} ${route.path}`, route);
    }
  }

  /** The policy route an event's method and route template match, if any. */
  route(method: string | undefined, path: string | undefined): PolicyRoute | undefined {
    if (path === undefined) return undefined;
    return this.routes.get(`${method ?? ''} ${path}`) ?? this.anyMethod.get(path);
  }

  /** The personal data categories a scope reaches (empty when unknown). */
  categories(scope: string): readonly string[] {
    return this.policy?.scopes[scope]?.dataCategories ?? [];
  }

  /** The data categories of a set of scopes, sorted, without repeats. */
  categoriesOf(scopes: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const scope of scopes) for (const c of this.categories(scope)) out.add(c);
    return [...out].sort();
  }

  /** The policy routes a credential with these scopes may call. */
  reachableRoutes(scopes: ReadonlySet<string>): PolicyRoute[] {
    return (this.policy?.routes ?? []).filter((r) => r.scopes.every((s) => scopes.has(s)));
  }

  /** `GET /customers/:id`. */
  static label(route: Pick<PolicyRoute, 'method' | 'path'>): string {
    return `${route.method} ${route.path}`;
  }
}

/** A set that stops growing at `max` entries and counts what it turned away. @internal */
export class CappedSet {
  readonly values = new Set<string>();
  overflow = false;

  constructor(private readonly max: number) {}

  add(value: string): void {
    if (this.values.has(value)) return;
    if (this.values.size >= this.max) {
      this.overflow = true;
      return;
    }
    this.values.add(value);
  }

  /** Sorted values. */
  list(): string[] {
    return [...this.values].sort();
  }
}

/** Counts per key, capped at `max` distinct keys (the rest go under `other`). @internal */
export class CappedCounter {
  readonly counts = new Map<string, number>();
  other = 0;

  constructor(private readonly max: number) {}

  add(key: string, n = 1): void {
    const current = this.counts.get(key);
    if (current !== undefined) this.counts.set(key, current + n);
    else if (this.counts.size < this.max) this.counts.set(key, n);
    else this.other += n;
  }

  /** Entries, most frequent first. */
  entries(): { key: string; count: number }[] {
    return [...this.counts.entries()]
      .map(([key, count]) => ({ key, count }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
  }
}
