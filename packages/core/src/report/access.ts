import type { AuditEvent } from '../audit';
import type { Policy } from '../policy/types';
import { iso, PolicyView, readTrail } from './read';
import type { AuditSource, ReportHeader, ReportOptions } from './types';

/** Options of {@link accessReport}. */
export interface AccessOptions extends ReportOptions {
  /** The policy: the data categories behind each route. */
  readonly policy?: Policy;
  /** Most accesses listed one by one, and most tokens itemised (counts cover all). Default: 10000. */
  readonly maxListed?: number;
}

/** One access to the person's data. */
export interface AccessEntry {
  readonly time: string;
  readonly outcome: string;
  readonly reason?: string;
  readonly client?: string;
  readonly tokenId?: string;
  readonly subject?: string;
  readonly method?: string;
  readonly route?: string;
  readonly purpose?: string;
  readonly lawfulBasis?: string;
  readonly dataCategories: readonly string[];
}

/** What one client (recipient) did with the person's data. */
export interface AccessRecipient {
  readonly client: string;
  readonly accesses: number;
  readonly allowed: number;
  readonly denied: number;
  readonly firstAccess: string;
  readonly lastAccess: string;
  /** Distinct tokens (and API keys) of the client that touched the data. */
  readonly tokens: number;
  readonly purposes: readonly string[];
  readonly lawfulBases: readonly string[];
  readonly routes: readonly string[];
  readonly dataCategories: readonly string[];
}

/** The answer to a data subject's right of access (GDPR Art. 15) from the audit trail. */
export interface AccessReport extends ReportHeader {
  readonly kind: 'access';
  readonly dataSubject: string;
  readonly accesses: number;
  readonly allowed: number;
  readonly denied: number;
  readonly firstAccess?: string;
  readonly lastAccess?: string;
  /** Per client, most accesses first. */
  readonly recipients: readonly AccessRecipient[];
  /** Per purpose and lawful basis, allowed accesses only. */
  readonly purposes: readonly {
    readonly purpose: string;
    readonly lawfulBasis: string;
    readonly accesses: number;
  }[];
  /** Data categories reached by allowed accesses. */
  readonly dataCategories: readonly { readonly category: string; readonly accesses: number }[];
  /** Each token that touched the data (at most `maxListed`). */
  readonly tokens: readonly {
    readonly tokenId: string;
    readonly client?: string;
    readonly accesses: number;
    readonly firstAccess: string;
    readonly lastAccess: string;
  }[];
  readonly tokensTruncated: boolean;
  /** Consent given, withdrawn or lapsed, in order. */
  readonly consent: readonly {
    readonly time: string;
    readonly type: string;
    readonly outcome: string;
    readonly purpose?: string;
    readonly source?: string;
  }[];
  readonly accessesListed: readonly AccessEntry[];
  readonly accessesTruncated: boolean;
}

interface Recipient {
  accesses: number;
  allowed: number;
  first: number;
  last: number;
  tokens: Set<string>;
  purposes: Set<string>;
  bases: Set<string>;
  routes: Set<string>;
  categories: Set<string>;
}

/** Distinct values of the small per-client sets (routes, purposes) kept. */
const MAX_SMALL = 1_000;

/**
 * Which clients and tokens touched one data subject's personal data, when, for which purpose and
 * on which lawful basis, with the consent history: the audit-trail part of an Art. 15 answer.
 * Accesses are the access decisions that name the person as `dataSubject`.
 */
export async function accessReport(
  source: AuditSource,
  dataSubject: string,
  options: AccessOptions = {},
): Promise<AccessReport> {
  const view = new PolicyView(options.policy);
  const maxListed = options.maxListed ?? 10_000;
  const recipients = new Map<string, Recipient>();
  const purposes = new Map<string, number>();
  const categories = new Map<string, number>();
  const tokens = new Map<
    string,
    { client?: string; accesses: number; first: number; last: number }
  >();
  let tokensTruncated = false;
  const consent: AccessReport['consent'][number][] = [];
  const listed: AccessEntry[] = [];
  let accesses = 0;
  let allowed = 0;
  let first: number | undefined;
  let last: number | undefined;

  const header = await readTrail(source, options, options.policy, (event, time) => {
    if (event.dataSubject !== dataSubject) return;
    if (event.type.startsWith('consent.')) {
      if (consent.length < maxListed) consent.push(consentOf(event));
      return;
    }
    if (event.type !== 'access.decision') return;
    accesses += 1;
    const ok = event.outcome === 'allow';
    if (ok) allowed += 1;
    if (first === undefined || time < first) first = time;
    if (last === undefined || time > last) last = time;
    const route = view.route(event.method, event.route);
    const cats = route ? view.categoriesOf(route.scopes) : [];
    const client = event.client ?? '(unknown client)';
    let r = recipients.get(client);
    if (!r) {
      r = {
        accesses: 0,
        allowed: 0,
        first: time,
        last: time,
        tokens: new Set(),
        purposes: new Set(),
        bases: new Set(),
        routes: new Set(),
        categories: new Set(),
      };
      recipients.set(client, r);
    }
    r.accesses += 1;
    if (time < r.first) r.first = time;
    if (time > r.last) r.last = time;
    if (event.tokenId !== undefined && r.tokens.size < 100_000) r.tokens.add(event.tokenId);
    const label = `${event.method ?? ''} ${event.route ?? ''}`.trim();
    if (r.routes.size < MAX_SMALL) r.routes.add(label);
    if (ok) {
      r.allowed += 1;
      if (event.purpose !== undefined && r.purposes.size < MAX_SMALL) r.purposes.add(event.purpose);
      if (event.lawfulBasis !== undefined) r.bases.add(event.lawfulBasis);
      for (const c of cats) {
        r.categories.add(c);
        categories.set(c, (categories.get(c) ?? 0) + 1);
      }
      const key = `${event.purpose ?? ''}\u0000${event.lawfulBasis ?? ''}`;
      if (purposes.has(key) || purposes.size < MAX_SMALL) {
        purposes.set(key, (purposes.get(key) ?? 0) + 1);
      }
    }
    if (event.tokenId !== undefined) {
      const t = tokens.get(event.tokenId);
      if (t) {
        t.accesses += 1;
        if (time < t.first) t.first = time;
        if (time > t.last) t.last = time;
      } else if (tokens.size < maxListed) {
        tokens.set(event.tokenId, {
          ...(event.client !== undefined ? { client: event.client } : {}),
          accesses: 1,
          first: time,
          last: time,
        });
      } else {
        tokensTruncated = true;
      }
    }
    if (listed.length < maxListed) listed.push(entryOf(event, cats));
  });

  return {
    kind: 'access',
    ...header,
    dataSubject,
    accesses,
    allowed,
    denied: accesses - allowed,
    ...(first !== undefined ? { firstAccess: iso(first) } : {}),
    ...(last !== undefined ? { lastAccess: iso(last) } : {}),
    recipients: [...recipients.entries()]
      .map(([client, r]) => ({
        client,
        accesses: r.accesses,
        allowed: r.allowed,
        denied: r.accesses - r.allowed,
        firstAccess: iso(r.first),
        lastAccess: iso(r.last),
        tokens: r.tokens.size,
        purposes: [...r.purposes].sort(),
        lawfulBases: [...r.bases].sort(),
        routes: [...r.routes].sort(),
        dataCategories: [...r.categories].sort(),
      }))
      .sort((a, b) => b.accesses - a.accesses || (a.client < b.client ? -1 : 1)),
    purposes: [...purposes.entries()]
      .map(([key, n]) => {
        const [purpose, lawfulBasis] = key.split('\u0000') as [string, string];
        return { purpose: purpose || '(none)', lawfulBasis: lawfulBasis || '(none)', accesses: n };
      })
      .sort((a, b) => b.accesses - a.accesses || (a.purpose < b.purpose ? -1 : 1)),
    dataCategories: [...categories.entries()]
      .map(([category, n]) => ({ category, accesses: n }))
      .sort((a, b) => (a.category < b.category ? -1 : 1)),
    tokens: [...tokens.entries()]
      .map(([tokenId, t]) => ({
        tokenId,
        ...(t.client !== undefined ? { client: t.client } : {}),
        accesses: t.accesses,
        firstAccess: iso(t.first),
        lastAccess: iso(t.last),
      }))
      .sort((a, b) => (a.firstAccess < b.firstAccess ? -1 : a.firstAccess > b.firstAccess ? 1 : 0)),
    tokensTruncated,
    consent,
    accessesListed: listed,
    accessesTruncated: accesses > listed.length,
  };
}

function consentOf(event: AuditEvent): AccessReport['consent'][number] {
  const source = event.detail?.source;
  return {
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    ...(event.purpose !== undefined ? { purpose: event.purpose } : {}),
    ...(typeof source === 'string' ? { source } : {}),
  };
}

function entryOf(event: AuditEvent, dataCategories: readonly string[]): AccessEntry {
  const out: Record<string, unknown> = { time: event.time, outcome: event.outcome };
  for (const field of [
    'reason',
    'client',
    'tokenId',
    'subject',
    'method',
    'route',
    'purpose',
    'lawfulBasis',
  ] as const) {
    const value = event[field];
    if (value !== undefined) out[field] = value;
  }
  out.dataCategories = dataCategories;
  return out as unknown as AccessEntry;
}
