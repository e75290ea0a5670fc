import type { AuditEvent } from '../audit';
import type { ApiKeyRecord } from '../issue/credential-store';
import type { Policy } from '../policy/file';
import type { StoreSnapshot, WardenStore } from '../store/types';
import { CappedCounter, CappedSet, iso, PolicyView, readTrail } from './read';
import type { AuditSource, ReportHeader, ReportOptions } from './types';

/** Which credential leaked: one token, one API key, everything of a client or of a subject. */
export type ExposureSelector =
  | { readonly tokenId: string }
  | { readonly apiKeyId: string }
  | { readonly client: string }
  | { readonly subject: string };

/** Options of {@link exposureReport}. */
export interface ExposureOptions extends ReportOptions {
  /** The policy: scopes → routes, data categories, purposes; client limits. */
  readonly policy?: Policy;
  /** When the credential is suspected to have leaked (epoch ms): uses from then on are flagged. */
  readonly leakedAt?: number;
  /** The store, for the revocation state now (`lookup`). */
  readonly store?: Pick<WardenStore, 'lookup'>;
  /** The API key's record (from the credential store), for an `apiKeyId` report. */
  readonly apiKey?: ApiKeyRecord;
  /** Most uses listed one by one (the counts cover them all). Default: 10000. */
  readonly maxUsesListed?: number;
  /** Most addresses, user agents and routes counted one by one. Default: 1000 each. */
  readonly maxDistinct?: number;
}

/** One use of the credential: an access decision. */
export interface ExposureUse {
  readonly time: string;
  readonly outcome: string;
  readonly reason?: string;
  readonly method?: string;
  readonly route?: string;
  readonly status?: number;
  readonly tokenId?: string;
  readonly client?: string;
  readonly subject?: string;
  readonly dataSubject?: string;
  readonly purpose?: string;
  readonly lawfulBasis?: string;
  readonly clientAddress?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  /** At or after the suspected leak time. */
  readonly afterLeak: boolean;
}

/** A revocation that applies (or may apply) to the credential. */
export interface ExposureRevocation {
  readonly time: string;
  readonly type: string;
  readonly outcome: string;
  readonly actor?: string;
  readonly reason?: string;
  /** For not-before marks: tokens issued at or before this time are refused. */
  readonly before?: string;
}

/** A route the credential could call, from the policy. */
export interface ReachableRoute {
  readonly route: string;
  readonly scopes: readonly string[];
  readonly dataCategories: readonly string[];
  readonly purpose?: string;
  readonly lawfulBasis?: string;
}

/** Distinct data subjects touched in one data category. */
export interface CategoryCount {
  readonly category: string;
  readonly dataSubjects: number;
  readonly dataSubjectsAfterLeak: number;
  /** Allowed uses that touched the category. */
  readonly uses: number;
}

/** The answer to "this credential leaked: what could it reach, what did it reach". */
export interface ExposureReport extends ReportHeader {
  readonly kind: 'exposure';
  readonly credential: {
    readonly kind: 'token' | 'api_key' | 'client' | 'subject';
    readonly id: string;
  };
  readonly leakedAt?: string;
  readonly couldReach: {
    /** Scopes the credential carries (or the client may be granted). */
    readonly scopes: readonly string[];
    /** Where the scopes were learnt: `issuance`, `uses`, `api_key`, `policy`. */
    readonly scopesFrom: readonly string[];
    readonly dataCategories: readonly string[];
    readonly routes: readonly ReachableRoute[];
    readonly purposes: readonly { readonly purpose: string; readonly lawfulBasis: string }[];
    /** When the token or key was issued and until when it is valid, when known. */
    readonly issuedAt?: string;
    readonly expiresAt?: string;
    readonly lifetimeSeconds?: number;
    /** The policy's cap for the client: longest token lifetime and API-key age, in seconds. */
    readonly maxTokenLifetimeSeconds?: number;
    readonly maxApiKeyAgeSeconds?: number;
    /** Tokens issued to the credential in the period (`token.issued`). */
    readonly tokensIssued: number;
  };
  readonly revocation: {
    readonly revoked: boolean;
    /** Earliest revocation that applies. */
    readonly revokedAt?: string;
    readonly events: readonly ExposureRevocation[];
    /** The store's answer now, when a store was given. */
    readonly current?: StoreSnapshot;
    /** Allowed uses after the revocation (should be none beyond propagation). */
    readonly allowedAfterRevocation: number;
  };
  readonly didReach: {
    readonly uses: number;
    readonly allowed: number;
    readonly denied: number;
    readonly firstUse?: string;
    readonly lastUse?: string;
    readonly usesAfterLeak: number;
    readonly allowedAfterLeak: number;
    readonly firstUseAfterLeak?: string;
    /** Distinct token ids seen in the uses (exact up to 100000). */
    readonly tokens: number;
    readonly routes: readonly {
      readonly route: string;
      readonly allowed: number;
      readonly denied: number;
    }[];
    readonly dataSubjectsByCategory: readonly CategoryCount[];
    /** Distinct data subjects touched by allowed uses, over every category. */
    readonly dataSubjects: number;
    readonly dataSubjectsAfterLeak: number;
    /** The data subjects touched (sorted; at most `maxUsesListed`). */
    readonly dataSubjectIds: readonly string[];
    /** Allowed uses on routes with personal data whose event names no data subject. */
    readonly allowedWithoutDataSubject: number;
    readonly clientAddresses: readonly {
      readonly address: string;
      readonly uses: number;
      readonly afterLeak: number;
    }[];
    readonly userAgents: readonly { readonly userAgent: string; readonly uses: number }[];
    readonly usesListed: readonly ExposureUse[];
    /** True when more uses happened than are listed. */
    readonly usesTruncated: boolean;
  };
}

/** Category of uses on routes the policy does not list. */
export const UNLISTED_ROUTE = '(route not in policy)';

const REVOCATIONS = new Set([
  'token.revoked',
  'apikey.revoked',
  'subject.revoked',
  'client.revoked',
  'all.revoked',
]);

/**
 * Exposure of a leaked credential, from the policy and one pass over the audit trail: what it
 * could reach (scopes → routes, data categories, purposes; lifetime; revocation) and what it
 * did reach (every use, first and last, uses after the leak, distinct data subjects per
 * category, addresses and user agents). Memory holds only aggregates and at most
 * `maxUsesListed` uses.
 *
 * @example
 * const report = await exposureReport(new JsonLinesSource({ path: 'audit/' }),
 *   { tokenId: 'jti-123' }, { policy, leakedAt: Date.parse('2030-01-05T10:00:00Z') });
 */
export async function exposureReport(
  source: AuditSource,
  selector: ExposureSelector,
  options: ExposureOptions = {},
): Promise<ExposureReport> {
  const credential = credentialOf(selector);
  const view = new PolicyView(options.policy);
  const maxListed = options.maxUsesListed ?? 10_000;
  const maxDistinct = options.maxDistinct ?? 1_000;
  const leak = options.leakedAt;
  const matches = matcher(selector);

  const scopes = new Set<string>();
  const scopesFrom = new Set<string>();
  const tokenIds = new CappedSet(100_000);
  const subjects = new CappedSet(1_000);
  const clients = new CappedSet(1_000);
  let issuedAt: number | undefined;
  let expiresAt: number | undefined;
  let lifetimeSeconds: number | undefined;
  let tokensIssued = 0;

  let useCount = 0;
  let allowed = 0;
  let firstUse: number | undefined;
  let lastUse: number | undefined;
  let usesAfterLeak = 0;
  let allowedAfterLeak = 0;
  let firstAfterLeak: number | undefined;
  const routeAllowed = new CappedCounter(maxDistinct);
  const routeDenied = new CappedCounter(maxDistinct);
  const addresses = new CappedCounter(maxDistinct);
  const addressesAfterLeak = new CappedCounter(maxDistinct);
  const agents = new CappedCounter(maxDistinct);
  const byCategory = new Map<string, { all: Set<string>; afterLeak: Set<string>; uses: number }>();
  const everyone = new Set<string>();
  const everyoneAfterLeak = new Set<string>();
  let withoutDataSubject = 0;
  const listed: ExposureUse[] = [];

  type Revocation = ExposureRevocation & {
    at: number;
    tokenId?: string;
    subject?: string;
    client?: string;
  };
  const revocations: Revocation[] = [];
  /** Whether a revocation applies to the credential, as far as is known when it is asked. */
  const applies = (r: Revocation): boolean => {
    if (r.outcome !== 'success') return false;
    let scoped: boolean;
    switch (r.type) {
      case 'token.revoked':
      case 'apikey.revoked':
        scoped = r.tokenId !== undefined && tokenIds.values.has(r.tokenId);
        break;
      case 'subject.revoked':
        scoped =
          r.subject !== undefined &&
          (subjects.values.has(r.subject) ||
            ('subject' in selector && r.subject === selector.subject));
        break;
      case 'client.revoked':
        scoped =
          r.client !== undefined &&
          (clients.values.has(r.client) || ('client' in selector && r.client === selector.client));
        break;
      default:
        scoped = true;
    }
    // A not-before mark refuses tokens issued at or before it: for one token it applies only if
    // the token was issued by then (an unknown issue time is listed, as it may apply).
    if (!scoped || r.before === undefined || issuedAt === undefined) return scoped;
    if (!('tokenId' in selector || 'apiKeyId' in selector)) return true;
    return issuedAt <= Date.parse(r.before);
  };
  let revokedSoFar: number | undefined;
  let allowedAfterRevocation = 0;

  const header = await readTrail(source, options, options.policy, (event, time) => {
    if (REVOCATIONS.has(event.type)) {
      if (event.type === 'token.revoked' || event.type === 'apikey.revoked') {
        if (!matches(event) && !(event.tokenId && tokenIds.values.has(event.tokenId))) return;
      }
      const r: Revocation = {
        ...revocationOf(event),
        at: time,
        ...(event.tokenId !== undefined ? { tokenId: event.tokenId } : {}),
        ...(event.subject !== undefined ? { subject: event.subject } : {}),
        ...(event.client !== undefined ? { client: event.client } : {}),
      };
      if (event.tokenId !== undefined && matches(event)) tokenIds.add(event.tokenId);
      if (revocations.length < 10_000) revocations.push(r);
      if (applies(r) && (revokedSoFar === undefined || time < revokedSoFar)) revokedSoFar = time;
      return;
    }
    if (!matches(event)) return;
    // A rotation names the replacing key; only the selected key's own id is the credential's.
    const ownId = event.type !== 'apikey.rotated' || event.tokenId === credentialTokenId(selector);
    if (event.tokenId !== undefined && ownId) tokenIds.add(event.tokenId);
    if (event.subject !== undefined) subjects.add(event.subject);
    if (event.client !== undefined) clients.add(event.client);
    switch (event.type) {
      case 'token.issued':
      case 'apikey.created':
      case 'apikey.rotated': {
        if (event.outcome !== 'success') return;
        if (event.type === 'token.issued') tokensIssued += 1;
        const own = event.tokenId !== undefined && event.tokenId === credentialTokenId(selector);
        for (const s of event.scopes ?? []) scopes.add(s);
        if ((event.scopes ?? []).length > 0) scopesFrom.add('issuance');
        if (own) {
          issuedAt = time;
          const exp = event.detail?.expiresAt;
          expiresAt =
            typeof exp === 'number' ? exp : typeof exp === 'string' ? Date.parse(exp) : expiresAt;
          const life = event.detail?.lifetimeSeconds;
          if (typeof life === 'number') lifetimeSeconds = life;
        }
        return;
      }
      case 'access.decision':
        break;
      default:
        return;
    }
    useCount += 1;
    const ok = event.outcome === 'allow';
    const after = leak !== undefined && time >= leak;
    for (const s of event.scopes ?? []) {
      if (!scopes.has(s)) scopes.add(s);
      scopesFrom.add('uses');
    }
    if (firstUse === undefined || time < firstUse) firstUse = time;
    if (lastUse === undefined || time > lastUse) lastUse = time;
    if (after) {
      usesAfterLeak += 1;
      if (firstAfterLeak === undefined || time < firstAfterLeak) firstAfterLeak = time;
    }
    const label = `${event.method ?? ''} ${event.route ?? ''}`.trim();
    if (ok) {
      allowed += 1;
      if (after) allowedAfterLeak += 1;
      routeAllowed.add(label);
      if (revokedSoFar !== undefined && time >= revokedSoFar) allowedAfterRevocation += 1;
      const route = view.route(event.method, event.route);
      const categories =
        route === undefined
          ? options.policy === undefined
            ? []
            : [UNLISTED_ROUTE]
          : view.categoriesOf(route.scopes);
      if (categories.length > 0 && event.dataSubject === undefined) withoutDataSubject += 1;
      for (const category of categories) {
        let entry = byCategory.get(category);
        if (!entry) {
          entry = { all: new Set(), afterLeak: new Set(), uses: 0 };
          byCategory.set(category, entry);
        }
        entry.uses += 1;
        if (event.dataSubject !== undefined) {
          entry.all.add(event.dataSubject);
          if (after) entry.afterLeak.add(event.dataSubject);
        }
      }
      if (event.dataSubject !== undefined) {
        everyone.add(event.dataSubject);
        if (after) everyoneAfterLeak.add(event.dataSubject);
      }
    } else {
      routeDenied.add(label);
    }
    if (event.clientAddress !== undefined) {
      addresses.add(event.clientAddress);
      if (after) addressesAfterLeak.add(event.clientAddress);
    }
    if (event.userAgent !== undefined) agents.add(event.userAgent);
    if (listed.length < maxListed) listed.push(useOf(event, after));
  });

  // Policy: what the scopes reach, and the client's limits.
  const policy = options.policy;
  if (options.apiKey) {
    for (const s of options.apiKey.scopes) scopes.add(s);
    scopesFrom.add('api_key');
    issuedAt ??= options.apiKey.createdAt;
    expiresAt ??= options.apiKey.expiresAt;
  }
  if ('client' in selector && policy?.clients[selector.client]) {
    for (const s of policy.clients[selector.client]!.scopes) scopes.add(s);
    scopesFrom.add('policy');
  }
  const clientId = 'client' in selector ? selector.client : [...clients.values][0];
  const clientPolicy = clientId === undefined ? undefined : policy?.clients[clientId];
  const reachable = view.reachableRoutes(scopes).map((r) => ({
    route: PolicyView.label(r),
    scopes: r.scopes,
    dataCategories: view.categoriesOf(r.scopes),
    ...(r.purpose !== undefined ? { purpose: r.purpose } : {}),
    ...(r.lawfulBasis !== undefined
      ? { lawfulBasis: r.lawfulBasis }
      : r.purpose !== undefined && policy?.purposes[r.purpose]
        ? { lawfulBasis: policy.purposes[r.purpose]!.lawfulBasis }
        : {}),
  }));
  const purposes = new Map<string, string>();
  for (const r of reachable)
    if (r.purpose !== undefined) purposes.set(r.purpose, r.lawfulBasis ?? '');

  // Revocations that apply to the credential.
  const applying = revocations.filter(applies);
  const revokedAt = applying.length === 0 ? undefined : Math.min(...applying.map((r) => r.at));
  const current = options.store
    ? await options.store.lookup({
        // A token named by its fingerprint is looked up by the id its events carry.
        tokenId:
          (credentialTokenId(selector) !== undefined &&
          tokenIds.values.has(credentialTokenId(selector)!)
            ? credentialTokenId(selector)
            : [...tokenIds.values][0]) ??
          credentialTokenId(selector) ??
          '',
        subject: 'subject' in selector ? selector.subject : ([...subjects.values][0] ?? ''),
        ...(clientId !== undefined ? { client: clientId } : {}),
      })
    : undefined;

  return {
    kind: 'exposure',
    ...header,
    credential,
    ...(leak !== undefined ? { leakedAt: iso(leak) } : {}),
    couldReach: {
      scopes: [...scopes].sort(),
      scopesFrom: [...scopesFrom].sort(),
      dataCategories: view.categoriesOf(scopes),
      routes: reachable,
      purposes: [...purposes.entries()]
        .sort()
        .map(([purpose, lawfulBasis]) => ({ purpose, lawfulBasis })),
      ...(issuedAt !== undefined ? { issuedAt: iso(issuedAt) } : {}),
      ...(expiresAt !== undefined && Number.isFinite(expiresAt)
        ? { expiresAt: iso(expiresAt) }
        : {}),
      ...(lifetimeSeconds !== undefined ? { lifetimeSeconds } : {}),
      ...(clientPolicy
        ? {
            maxTokenLifetimeSeconds: clientPolicy.maxTokenLifetimeMs / 1000,
            maxApiKeyAgeSeconds: clientPolicy.apiKeyMaxAgeMs / 1000,
          }
        : {}),
      tokensIssued,
    },
    revocation: {
      revoked: applying.length > 0 || current?.tokenRevoked === true,
      ...(revokedAt !== undefined ? { revokedAt: iso(revokedAt) } : {}),
      events: applying.map(({ at: _at, tokenId: _t, subject: _s, client: _c, ...r }) => r),
      ...(current !== undefined ? { current } : {}),
      allowedAfterRevocation,
    },
    didReach: {
      uses: useCount,
      allowed,
      denied: useCount - allowed,
      ...(firstUse !== undefined ? { firstUse: iso(firstUse) } : {}),
      ...(lastUse !== undefined ? { lastUse: iso(lastUse) } : {}),
      usesAfterLeak,
      allowedAfterLeak,
      ...(firstAfterLeak !== undefined ? { firstUseAfterLeak: iso(firstAfterLeak) } : {}),
      tokens: tokenIds.values.size,
      routes: mergeRoutes(routeAllowed, routeDenied),
      dataSubjectsByCategory: [...byCategory.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([category, e]) => ({
          category,
          dataSubjects: e.all.size,
          dataSubjectsAfterLeak: e.afterLeak.size,
          uses: e.uses,
        })),
      dataSubjects: everyone.size,
      dataSubjectsAfterLeak: everyoneAfterLeak.size,
      dataSubjectIds: [...everyone].sort().slice(0, maxListed),
      allowedWithoutDataSubject: withoutDataSubject,
      clientAddresses: addresses.entries().map(({ key, count }) => ({
        address: key,
        uses: count,
        afterLeak: addressesAfterLeak.counts.get(key) ?? 0,
      })),
      userAgents: agents.entries().map(({ key, count }) => ({ userAgent: key, uses: count })),
      usesListed: listed,
      usesTruncated: useCount > listed.length,
    },
  };
}

function credentialOf(selector: ExposureSelector): ExposureReport['credential'] {
  if ('tokenId' in selector) return { kind: 'token', id: selector.tokenId };
  if ('apiKeyId' in selector) return { kind: 'api_key', id: selector.apiKeyId };
  if ('client' in selector) return { kind: 'client', id: selector.client };
  return { kind: 'subject', id: selector.subject };
}

function credentialTokenId(selector: ExposureSelector): string | undefined {
  if ('tokenId' in selector) return selector.tokenId;
  if ('apiKeyId' in selector) return selector.apiKeyId;
  return undefined;
}

function matcher(selector: ExposureSelector): (event: AuditEvent) => boolean {
  if ('tokenId' in selector) {
    const id = selector.tokenId;
    return (e) => e.tokenId === id || e.tokenFingerprint === id;
  }
  if ('apiKeyId' in selector) {
    const id = selector.apiKeyId;
    return (e) =>
      e.tokenId === id || (e.type === 'apikey.rotated' && e.detail?.previousKeyId === id);
  }
  if ('client' in selector) {
    const id = selector.client;
    return (e) => e.client === id;
  }
  const id = selector.subject;
  return (e) => e.subject === id;
}

function revocationOf(event: AuditEvent): ExposureRevocation {
  const before = event.detail?.before;
  const reason = event.detail?.reason;
  return {
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    ...(event.actor !== undefined ? { actor: event.actor } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof before === 'number'
      ? { before: iso(before) }
      : typeof before === 'string'
        ? { before }
        : {}),
  };
}

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
