import type { AuditEvent } from '../audit';
import type { ExposureReport, ExposureUse } from './exposure-types';
import { CappedCounter, iso, type PolicyView } from './read';

/** Category of uses on routes the policy does not list. */
export const UNLISTED_ROUTE = '(route not in policy)';

/** The event fields one use lists, after `time` and `outcome`, in column order. */
export const EXPOSURE_USE_FIELDS = [
  'reason',
  'method',
  'route',
  'status',
  'tokenId',
  'client',
  'subject',
  'dataSubject',
  'purpose',
  'lawfulBasis',
  'clientAddress',
  'userAgent',
  'requestId',
] as const;

/** Limits of a {@link UseTally}. @internal */
export interface UseTallyOptions {
  /** When the credential is suspected to have leaked (epoch ms). */
  readonly leakedAt: number | undefined;
  /** Most uses listed one by one. */
  readonly maxListed: number;
  /** Most routes, addresses and user agents counted one by one. */
  readonly maxDistinct: number;
}

/**
 * What a credential did reach, one use (access decision) at a time: counts, first and last use,
 * uses after the leak and after revocation, routes, distinct data subjects per data category,
 * addresses and user agents, and the first uses listed. Memory holds only these aggregates.
 * @internal
 */
export class UseTally {
  private uses = 0;
  private allowed = 0;
  private firstUse: number | undefined;
  private lastUse: number | undefined;
  private usesAfterLeak = 0;
  private allowedAfterLeak = 0;
  private firstAfterLeak: number | undefined;
  private allowedAfterRevocation = 0;
  private withoutDataSubject = 0;
  private readonly routeAllowed: CappedCounter;
  private readonly routeDenied: CappedCounter;
  private readonly addresses: CappedCounter;
  private readonly addressesAfterLeak: CappedCounter;
  private readonly agents: CappedCounter;
  private readonly byCategory = new Map<
    string,
    { all: Set<string>; afterLeak: Set<string>; uses: number }
  >();
  private readonly everyone = new Set<string>();
  private readonly everyoneAfterLeak = new Set<string>();
  private readonly listed: ExposureUse[] = [];

  constructor(
    private readonly view: PolicyView,
    private readonly options: UseTallyOptions,
  ) {
    this.routeAllowed = new CappedCounter(options.maxDistinct);
    this.routeDenied = new CappedCounter(options.maxDistinct);
    this.addresses = new CappedCounter(options.maxDistinct);
    this.addressesAfterLeak = new CappedCounter(options.maxDistinct);
    this.agents = new CappedCounter(options.maxDistinct);
  }

  /** Counts one use; `revokedSince` is the earliest applying revocation read so far. */
  add(event: AuditEvent, time: number, revokedSince: number | undefined): void {
    this.uses += 1;
    const ok = event.outcome === 'allow';
    const leak = this.options.leakedAt;
    const after = leak !== undefined && time >= leak;
    if (this.firstUse === undefined || time < this.firstUse) this.firstUse = time;
    if (this.lastUse === undefined || time > this.lastUse) this.lastUse = time;
    if (after) {
      this.usesAfterLeak += 1;
      if (this.firstAfterLeak === undefined || time < this.firstAfterLeak) {
        this.firstAfterLeak = time;
      }
    }
    const label = `${event.method ?? ''} ${event.route ?? ''}`.trim();
    if (ok) {
      this.allowed += 1;
      if (after) this.allowedAfterLeak += 1;
      this.routeAllowed.add(label);
      if (revokedSince !== undefined && time >= revokedSince) this.allowedAfterRevocation += 1;
      this.addDataSubject(event, after);
    } else {
      this.routeDenied.add(label);
    }
    if (event.clientAddress !== undefined) {
      this.addresses.add(event.clientAddress);
      if (after) this.addressesAfterLeak.add(event.clientAddress);
    }
    if (event.userAgent !== undefined) this.agents.add(event.userAgent);
    if (this.listed.length < this.options.maxListed) this.listed.push(useOf(event, after));
  }

  /** Allowed uses at or after the earliest applying revocation. */
  afterRevocation(): number {
    return this.allowedAfterRevocation;
  }

  /** The `didReach` part of the report; `tokens` is the number of distinct token ids seen. */
  result(tokens: number): ExposureReport['didReach'] {
    return {
      uses: this.uses,
      allowed: this.allowed,
      denied: this.uses - this.allowed,
      ...(this.firstUse !== undefined ? { firstUse: iso(this.firstUse) } : {}),
      ...(this.lastUse !== undefined ? { lastUse: iso(this.lastUse) } : {}),
      usesAfterLeak: this.usesAfterLeak,
      allowedAfterLeak: this.allowedAfterLeak,
      ...(this.firstAfterLeak !== undefined ? { firstUseAfterLeak: iso(this.firstAfterLeak) } : {}),
      tokens,
      routes: mergeRoutes(this.routeAllowed, this.routeDenied),
      dataSubjectsByCategory: [...this.byCategory.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([category, e]) => ({
          category,
          dataSubjects: e.all.size,
          dataSubjectsAfterLeak: e.afterLeak.size,
          uses: e.uses,
        })),
      dataSubjects: this.everyone.size,
      dataSubjectsAfterLeak: this.everyoneAfterLeak.size,
      dataSubjectIds: [...this.everyone].sort().slice(0, this.options.maxListed),
      allowedWithoutDataSubject: this.withoutDataSubject,
      clientAddresses: this.addresses.entries().map(({ key, count }) => ({
        address: key,
        uses: count,
        afterLeak: this.addressesAfterLeak.counts.get(key) ?? 0,
      })),
      userAgents: this.agents.entries().map(({ key, count }) => ({ userAgent: key, uses: count })),
      usesListed: this.listed,
      usesTruncated: this.uses > this.listed.length,
    };
  }

  /** The personal data an allowed use reached: its route's data categories and data subject. */
  private addDataSubject(event: AuditEvent, after: boolean): void {
    const route = this.view.route(event.method, event.route);
    const categories =
      route === undefined
        ? this.view.policy === undefined
          ? []
          : [UNLISTED_ROUTE]
        : this.view.categoriesOf(route.scopes);
    if (categories.length > 0 && event.dataSubject === undefined) this.withoutDataSubject += 1;
    for (const category of categories) {
      let entry = this.byCategory.get(category);
      if (!entry) {
        entry = { all: new Set(), afterLeak: new Set(), uses: 0 };
        this.byCategory.set(category, entry);
      }
      entry.uses += 1;
      if (event.dataSubject !== undefined) {
        entry.all.add(event.dataSubject);
        if (after) entry.afterLeak.add(event.dataSubject);
      }
    }
    if (event.dataSubject !== undefined) {
      this.everyone.add(event.dataSubject);
      if (after) this.everyoneAfterLeak.add(event.dataSubject);
    }
  }
}

function useOf(event: AuditEvent, afterLeak: boolean): ExposureUse {
  const out: Record<string, unknown> = { time: event.time, outcome: event.outcome };
  for (const field of EXPOSURE_USE_FIELDS) {
    const value = event[field];
    if (value !== undefined) out[field] = value;
  }
  out.afterLeak = afterLeak;
  return out as unknown as ExposureUse;
}

function mergeRoutes(
  allowed: CappedCounter,
  denied: CappedCounter,
): { route: string; allowed: number; denied: number }[] {
  const keys = new Set([...allowed.counts.keys(), ...denied.counts.keys()]);
  return [...keys]
    .map((route) => ({
      route,
      allowed: allowed.counts.get(route) ?? 0,
      denied: denied.counts.get(route) ?? 0,
    }))
    .sort((a, b) => b.allowed + b.denied - (a.allowed + a.denied) || (a.route < b.route ? -1 : 1));
}
