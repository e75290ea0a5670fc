/**
 * Generated audit trails with known truth, for the report tests: events are scripted, chained
 * with the real chain hasher across two producers, and every figure a report should give is
 * counted while the events are emitted. Not a test file.
 */
import {
  AUDIT_SCHEMA_VERSION,
  canonicalJson,
  ChainHasher,
  type ApiKeyRecord,
  type AuditEvent,
  type AuditEventInput,
  type SigningKeyInfo,
} from '@tokenwarden/core/internal';
import { checkPolicy, type Policy } from '@tokenwarden/core/policy';

export const T0 = Date.UTC(2030, 0, 1);
export const SEC = 1_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export const POLICY_TEXT = [
  'version: 1',
  'issuer: https://api.example.test/',
  'audience: customers-api',
  'limits: { maxTokenLifetime: 15m, maxApiKeyAge: 90d }',
  'signing: { algorithm: ES256, rotationPeriod: 30d }',
  'scopes:',
  '  customers:read: { description: Read customers, dataCategories: [contact_details] }',
  '  customers:write: { description: Change customers, dataCategories: [contact_details] }',
  '  orders:read: { description: Read orders, dataCategories: [purchase_history, contact_details] }',
  '  marketing:read: { description: Read marketing profiles, dataCategories: [marketing_profile] }',
  'purposes:',
  '  marketing: { description: Offers, lawfulBasis: consent }',
  '  order_fulfilment: { description: Delivering orders, lawfulBasis: contract }',
  'clients:',
  '  support-console: { scopes: [customers:read, orders:read, customers:write], apiKeyMaxAge: 30d, rotationPeriod: 14d }',
  '  crm: { scopes: [customers:read, marketing:read], maxTokenLifetime: 10m }',
  '  batch: { scopes: [orders:read], rotationPeriod: 7d }',
  'routes:',
  '  - { route: GET /customers/:id, scopes: [customers:read], purpose: order_fulfilment }',
  '  - { route: PUT /customers/:id, scopes: [customers:write], lawfulBasis: contract }',
  '  - { route: GET /orders/:id, scopes: [orders:read], purpose: order_fulfilment }',
  '  - { route: GET /customers/:id/offers, scopes: [marketing:read], purpose: marketing }',
  '  - { route: GET /exports/orders, scopes: [orders:read] }',
  '',
].join('\n');

/** The policy of {@link POLICY_TEXT}. */
export function testPolicy(): Policy {
  const result = checkPolicy(POLICY_TEXT);
  if (!result.policy) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

/** The generator's own table of what each route touches (kept apart from the policy code). */
export const ROUTES: Record<string, { categories: string[]; purpose?: string; basis?: string }> = {
  'GET /customers/:id': {
    categories: ['contact_details'],
    purpose: 'order_fulfilment',
    basis: 'contract',
  },
  'PUT /customers/:id': { categories: ['contact_details'], basis: 'contract' },
  'GET /orders/:id': {
    categories: ['contact_details', 'purchase_history'],
    purpose: 'order_fulfilment',
    basis: 'contract',
  },
  'GET /customers/:id/offers': {
    categories: ['marketing_profile'],
    purpose: 'marketing',
    basis: 'consent',
  },
  'GET /exports/orders': { categories: ['contact_details', 'purchase_history'] },
  'GET /legacy/export': { categories: [] },
};

/** Truth of one credential's uses. */
export interface UseTruth {
  uses: number;
  allowed: number;
  denied: number;
  first?: number;
  last?: number;
  usesAfterLeak: number;
  allowedAfterLeak: number;
  firstAfterLeak?: number;
  allowedAfterRevocation: number;
  subjectsByCategory: Map<string, Set<string>>;
  subjectsAfterLeakByCategory: Map<string, Set<string>>;
  usesByCategory: Map<string, number>;
  addresses: Map<string, number>;
  addressesAfterLeak: Map<string, number>;
  userAgents: Map<string, number>;
  routes: Map<string, { allowed: number; denied: number }>;
}

function useTruth(): UseTruth {
  return {
    uses: 0,
    allowed: 0,
    denied: 0,
    usesAfterLeak: 0,
    allowedAfterLeak: 0,
    allowedAfterRevocation: 0,
    subjectsByCategory: new Map(),
    subjectsAfterLeakByCategory: new Map(),
    usesByCategory: new Map(),
    addresses: new Map(),
    addressesAfterLeak: new Map(),
    userAgents: new Map(),
    routes: new Map(),
  };
}

const bump = <K>(m: Map<K, number>, k: K, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
const addTo = (m: Map<string, Set<string>>, k: string, v: string) => {
  const s = m.get(k) ?? new Set<string>();
  s.add(v);
  m.set(k, s);
};

/** Truth of the access report of one data subject. */
export interface SubjectTruth {
  accesses: number;
  allowed: number;
  first?: number;
  last?: number;
  byClient: Map<
    string,
    { accesses: number; allowed: number; tokens: Set<string>; purposes: Set<string> }
  >;
  purposes: Map<string, number>;
  categories: Map<string, number>;
  tokens: Map<string, number>;
  consent: { time: number; type: string; purpose: string }[];
}

interface Use {
  readonly at: number;
  readonly tokenId: string;
  readonly client: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly route: string;
  readonly dataSubject?: string;
  readonly outcome?: 'allow' | 'deny';
  readonly reason?: string;
  readonly status?: number;
  readonly address?: string;
  readonly userAgent?: string;
}

type Stamped = AuditEventInput & { at: number };

/** Builds a trail from scripted events, keeping the truth for chosen credentials. */
export class TrailBuilder {
  private readonly inputs: Stamped[] = [];
  /** Truth per token id (or API key id), for the ids given to {@link watch}. */
  readonly uses = new Map<string, UseTruth>();
  readonly subjects = new Map<string, SubjectTruth>();
  private readonly leaks = new Map<string, number>();
  private readonly revoked = new Map<string, number>();
  /** Allowed uses per client and the scopes (from the generator's route table) they needed. */
  readonly exercised = new Map<string, Map<string, number>>();

  constructor(private readonly routeScopes: Record<string, string[]>) {}

  /** Keeps the truth of a token's or key's uses; `leakedAt` flags uses from then on. */
  watch(tokenId: string, leakedAt?: number): void {
    this.uses.set(tokenId, useTruth());
    if (leakedAt !== undefined) this.leaks.set(tokenId, leakedAt);
  }

  /** Keeps the truth of one data subject's access report. */
  watchSubject(dataSubject: string): void {
    this.subjects.set(dataSubject, {
      accesses: 0,
      allowed: 0,
      byClient: new Map(),
      purposes: new Map(),
      categories: new Map(),
      tokens: new Map(),
      consent: [],
    });
  }

  event(at: number, input: AuditEventInput): void {
    this.inputs.push({ ...input, at });
    if (input.type === 'token.revoked' && input.tokenId !== undefined) {
      this.revoked.set(input.tokenId, at);
    }
    if (input.type.startsWith('consent.') && input.dataSubject !== undefined) {
      this.subjects.get(input.dataSubject)?.consent.push({
        time: at,
        type: input.type,
        purpose: input.purpose ?? '',
      });
    }
  }

  issue(
    at: number,
    tokenId: string,
    client: string,
    subject: string,
    scopes: string[],
    lifetimeSeconds: number,
  ): void {
    this.event(at, {
      type: 'token.issued',
      outcome: 'success',
      tokenId,
      subject,
      client,
      scopes,
      detail: {
        kid: 'k-current',
        expiresAt: new Date(at + lifetimeSeconds * SEC).toISOString(),
        lifetimeSeconds,
      },
    });
  }

  use(u: Use): void {
    const outcome = u.outcome ?? 'allow';
    const [method, route] = u.route.split(' ') as [string, string];
    const meta = ROUTES[u.route]!;
    this.event(u.at, {
      type: 'access.decision',
      outcome,
      reason: u.reason ?? (outcome === 'allow' ? 'authorized' : 'insufficient_scope'),
      tokenId: u.tokenId,
      tokenFingerprint: `fp-${u.tokenId}`,
      subject: u.subject,
      client: u.client,
      scopes: u.scopes,
      route,
      method,
      status: u.status ?? (outcome === 'allow' ? 200 : 403),
      dataSubject: u.dataSubject,
      purpose: meta.purpose,
      lawfulBasis: meta.basis as AuditEventInput['lawfulBasis'],
      requestId: `req-${this.inputs.length}`,
      clientAddress: u.address ?? '203.0.113.0',
      userAgent: u.userAgent ?? 'app/1.0',
    });
    const ok = outcome === 'allow';
    if (ok) {
      const per = this.exercised.get(u.client) ?? new Map<string, number>();
      for (const s of this.routeScopes[u.route] ?? []) bump(per, s);
      this.exercised.set(u.client, per);
    }
    const t = this.uses.get(u.tokenId);
    if (t) {
      const leak = this.leaks.get(u.tokenId);
      const after = leak !== undefined && u.at >= leak;
      t.uses += 1;
      if (ok) t.allowed += 1;
      else t.denied += 1;
      t.first = Math.min(t.first ?? u.at, u.at);
      t.last = Math.max(t.last ?? u.at, u.at);
      if (after) {
        t.usesAfterLeak += 1;
        if (ok) t.allowedAfterLeak += 1;
        t.firstAfterLeak = Math.min(t.firstAfterLeak ?? u.at, u.at);
      }
      const revokedAt = this.revoked.get(u.tokenId);
      if (ok && revokedAt !== undefined && u.at >= revokedAt) t.allowedAfterRevocation += 1;
      const r = t.routes.get(u.route) ?? { allowed: 0, denied: 0 };
      if (ok) r.allowed += 1;
      else r.denied += 1;
      t.routes.set(u.route, r);
      bump(t.addresses, u.address ?? '203.0.113.0');
      if (after) bump(t.addressesAfterLeak, u.address ?? '203.0.113.0');
      bump(t.userAgents, u.userAgent ?? 'app/1.0');
      if (ok) {
        for (const c of meta.categories) {
          bump(t.usesByCategory, c);
          if (u.dataSubject !== undefined) {
            addTo(t.subjectsByCategory, c, u.dataSubject);
            if (after) addTo(t.subjectsAfterLeakByCategory, c, u.dataSubject);
          }
        }
      }
    }
    const s = u.dataSubject === undefined ? undefined : this.subjects.get(u.dataSubject);
    if (s) {
      s.accesses += 1;
      if (ok) s.allowed += 1;
      s.first = Math.min(s.first ?? u.at, u.at);
      s.last = Math.max(s.last ?? u.at, u.at);
      const c = s.byClient.get(u.client) ?? {
        accesses: 0,
        allowed: 0,
        tokens: new Set(),
        purposes: new Set(),
      };
      c.accesses += 1;
      c.tokens.add(u.tokenId);
      if (ok) {
        c.allowed += 1;
        if (meta.purpose) c.purposes.add(meta.purpose);
        bump(s.purposes, `${meta.purpose ?? '(none)'}/${meta.basis ?? '(none)'}`);
        for (const cat of meta.categories) bump(s.categories, cat);
      }
      s.byClient.set(u.client, c);
      bump(s.tokens, u.tokenId);
    }
  }

  /**
   * The events in time order, split between two producers (alternately) and chained with the
   * real hasher, so each producer's chain verifies.
   */
  build(producers: readonly string[] = ['node-a.k1-aaaaaa', 'node-b.k1-bbbbbb']): AuditEvent[] {
    const hasher = new ChainHasher(undefined);
    const sorted = this.inputs
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.at - b.e.at || a.i - b.i);
    const seqs = new Map<string, number>();
    const last = new Map<string, string>();
    return sorted.map(({ e }, n) => {
      const producer = producers[n % producers.length]!;
      const seq = (seqs.get(producer) ?? 0) + 1;
      seqs.set(producer, seq);
      const { at, ...input } = e;
      const base: Record<string, unknown> = {
        schemaVersion: AUDIT_SCHEMA_VERSION,
        id: `${producer}/${seq}`,
        time: new Date(at).toISOString(),
        producer,
        seq,
      };
      for (const [k, v] of Object.entries(input)) if (v !== undefined) base[k] = v;
      const prev = last.get(producer);
      if (prev !== undefined) base.prevHash = prev;
      const hash = hasher.digest(canonicalJson(base as unknown as AuditEvent));
      last.set(producer, hash);
      return { ...base, hash } as unknown as AuditEvent;
    });
  }
}

/** Route → scopes, as the test policy has them. */
export const ROUTE_SCOPES: Record<string, string[]> = {
  'GET /customers/:id': ['customers:read'],
  'PUT /customers/:id': ['customers:write'],
  'GET /orders/:id': ['orders:read'],
  'GET /customers/:id/offers': ['marketing:read'],
  'GET /exports/orders': ['orders:read'],
};

/** The scenario the report tests share. */
export interface Scenario {
  readonly events: AuditEvent[];
  readonly builder: TrailBuilder;
  readonly policy: Policy;
  readonly leakedAt: number;
  readonly revokedAt: number;
  readonly now: number;
  readonly apiKeys: ApiKeyRecord[];
  readonly signingKeys: SigningKeyInfo[];
}

/**
 * A crm token leaks one hour into the trail and is used from a new address and user agent, then
 * revoked; other crm, support-console, batch (API key) and an unlisted client go about their
 * work; cust-3 gives and withdraws consent.
 */
export function scenario(): Scenario {
  const b = new TrailBuilder(ROUTE_SCOPES);
  const issuedAt = T0 + HOUR;
  const leakedAt = issuedAt + 300 * SEC;
  const revokedAt = issuedAt + 455 * SEC;
  b.watch('tok-leak', leakedAt);
  b.watch('ak_batch1');
  b.watchSubject('cust-3');

  b.event(T0 - 40 * DAY, {
    type: 'apikey.created',
    outcome: 'success',
    tokenId: 'ak_batch1',
    subject: 'batch',
    client: 'batch',
    scopes: ['orders:read'],
    detail: { expiresAt: T0 + 50 * DAY, environment: 'live' },
  });
  b.event(T0 + 10 * SEC, {
    type: 'consent.granted',
    outcome: 'success',
    dataSubject: 'cust-3',
    purpose: 'marketing',
    detail: { source: 'signup-form' },
  });

  // The leaked token: 60 uses, 10 s apart; from use 30 on, another address and user agent.
  b.issue(issuedAt, 'tok-leak', 'crm', 'agent-7', ['customers:read', 'marketing:read'], 600);
  b.event(revokedAt, {
    type: 'token.revoked',
    outcome: 'success',
    tokenId: 'tok-leak',
    actor: 'incident-response',
    detail: { expiresAt: issuedAt + 600 * SEC, reason: 'leaked' },
  });
  for (let i = 0; i < 60; i++) {
    const at = issuedAt + 5 * SEC + i * 10 * SEC;
    const even = i % 2 === 0;
    const revoked = at >= revokedAt;
    const withdrawn = i === 13;
    b.use({
      at,
      tokenId: 'tok-leak',
      client: 'crm',
      subject: 'agent-7',
      scopes: ['customers:read', 'marketing:read'],
      route: even ? 'GET /customers/:id' : 'GET /customers/:id/offers',
      dataSubject: even ? `cust-${i % 7}` : `cust-${(i % 5) + 10}`,
      ...(revoked
        ? { outcome: 'deny' as const, reason: 'token_revoked', status: 401 }
        : withdrawn
          ? { outcome: 'deny' as const, reason: 'consent_withdrawn', status: 403 }
          : {}),
      address: i < 30 ? '203.0.113.0' : '198.51.100.0',
      userAgent: i < 30 ? 'crm-app/2.1' : 'curl/8.5.0',
    });
  }

  // Other crm tokens: customer reads only.
  for (let k = 0; k < 20; k++) {
    const at = T0 + 2 * HOUR + k * 2 * HOUR;
    b.issue(at, `tok-crm-${k}`, 'crm', `agent-${k % 4}`, ['customers:read'], 300);
    for (let i = 0; i < 10; i++) {
      b.use({
        at: at + (i + 1) * 20 * SEC,
        tokenId: `tok-crm-${k}`,
        client: 'crm',
        subject: `agent-${k % 4}`,
        scopes: ['customers:read'],
        route: 'GET /customers/:id',
        dataSubject: `cust-${(k + i) % 50}`,
      });
    }
  }

  // support-console: order reads, one customer read, one refused write per token.
  for (let k = 0; k < 10; k++) {
    const at = T0 + DAY + k * HOUR;
    b.issue(
      at,
      `tok-sup-${k}`,
      'support-console',
      `support-${k % 3}`,
      ['customers:read', 'orders:read'],
      900,
    );
    const base = {
      tokenId: `tok-sup-${k}`,
      client: 'support-console',
      subject: `support-${k % 3}`,
      scopes: ['customers:read', 'orders:read'],
    };
    for (let i = 0; i < 5; i++) {
      b.use({
        ...base,
        at: at + (i + 1) * 30 * SEC,
        route: 'GET /orders/:id',
        dataSubject: `cust-${(k * 3 + i) % 20}`,
      });
    }
    b.use({ ...base, at: at + 200 * SEC, route: 'GET /customers/:id', dataSubject: `cust-${k}` });
    b.use({
      ...base,
      at: at + 210 * SEC,
      route: 'PUT /customers/:id',
      dataSubject: `cust-${k}`,
      outcome: 'deny',
      reason: 'insufficient_scope',
    });
  }
  b.issue(T0 + 3 * DAY, 'tok-sup-long', 'support-console', 'support-0', ['orders:read'], 1200);

  // batch: its API key exports orders.
  for (let i = 0; i < 3; i++) {
    b.use({
      at: T0 + 2 * DAY + i * HOUR,
      tokenId: 'ak_batch1',
      client: 'batch',
      subject: 'batch',
      scopes: ['orders:read'],
      route: 'GET /exports/orders',
    });
  }

  // A client the policy does not list, on a route it does not list.
  for (let i = 0; i < 4; i++) {
    b.use({
      at: T0 + 4 * DAY + i * HOUR,
      tokenId: 'tok-legacy',
      client: 'legacy-app',
      subject: 'legacy',
      scopes: ['orders:read'],
      route: 'GET /legacy/export',
    });
  }

  b.event(T0 + 5 * DAY, {
    type: 'consent.withdrawn',
    outcome: 'success',
    dataSubject: 'cust-3',
    purpose: 'marketing',
    detail: { source: 'privacy-portal' },
  });
  b.event(T0 + 6 * DAY, {
    type: 'subject.revoked',
    outcome: 'success',
    subject: 'agent-9',
    detail: { before: T0 + 6 * DAY },
  });

  const now = T0 + 10 * DAY;
  const key = (
    k: Partial<ApiKeyRecord> & Pick<ApiKeyRecord, 'keyId' | 'client' | 'createdAt' | 'expiresAt'>,
  ): ApiKeyRecord => ({
    hash: '0'.repeat(64),
    subject: k.client,
    scopes: ['orders:read'],
    environment: 'live',
    ...k,
  });
  const apiKeys = [
    key({
      keyId: 'ak_batch1',
      client: 'batch',
      createdAt: T0 - 40 * DAY,
      expiresAt: T0 + 50 * DAY,
    }),
    key({
      keyId: 'ak_sup_old',
      client: 'support-console',
      createdAt: T0 - 25 * DAY,
      expiresAt: T0 + 13 * DAY,
    }),
    key({
      keyId: 'ak_sup_new',
      client: 'support-console',
      createdAt: T0 + 9 * DAY,
      expiresAt: T0 + 30 * DAY,
      lastUsedAt: T0 + 9.5 * DAY,
    }),
    key({
      keyId: 'ak_crm_gone',
      client: 'crm',
      createdAt: T0 - 90 * DAY,
      expiresAt: T0 + 11 * DAY,
      revokedAt: T0 - DAY,
    }),
  ];
  const signingKeys: SigningKeyInfo[] = [
    {
      kid: 'k-old',
      alg: 'ES256',
      createdAt: T0 - 61 * DAY,
      activeFrom: T0 - 60 * DAY,
      verifyUntil: T0 - 20 * DAY,
    },
    { kid: 'k-current', alg: 'ES256', createdAt: T0 - 36 * DAY, activeFrom: T0 - 35 * DAY },
    { kid: 'k-next', alg: 'ES256', createdAt: now, activeFrom: now + HOUR },
  ];
  return {
    events: b.build(),
    builder: b,
    policy: testPolicy(),
    leakedAt,
    revokedAt,
    now,
    apiKeys,
    signingKeys,
  };
}

/** The events as JSON lines, as `JsonLinesSink` writes them. */
export function jsonLines(events: readonly AuditEvent[]): string {
  return events.map((e) => JSON.stringify(e) + '\n').join('');
}
