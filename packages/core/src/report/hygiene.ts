import type { ApiKeyRecord } from '../store/credential-types';
import type { SigningKeyInfo } from '../issue/signing-keys';
import type { Policy } from '../policy/types';
import { retentionFindings, retentionRows, type RetentionRow } from './hygiene-retention';
import { CappedCounter, iso, PolicyView, readTrail } from './read';
import type { AuditSource, ReportHeader, ReportOptions } from './types';

export type { RetentionRow } from './hygiene-retention';

const DAY = 86_400_000;

/** Options of {@link hygieneReport}. */
export interface HygieneOptions extends ReportOptions {
  /** The policy: rotation periods, lifetime caps, API-key ages, routes. */
  readonly policy?: Policy;
  /** The API keys (`CredentialStore.listApiKeys()`); leave out to skip the key checks. */
  readonly apiKeys?: readonly ApiKeyRecord[];
  /** The signing keys' metadata (no secrets); leave out to skip the signing-key checks. */
  readonly signingKeys?: readonly SigningKeyInfo[];
  /** A key unused this long (ms) is reported. Default: 30 days. */
  readonly unusedForMs?: number;
  /** A key expiring within this many ms is reported. Default: 7 days. */
  readonly expiringWithinMs?: number;
  /** A token lifetime at or above this share of its client's cap is reported. Default: 0.9. */
  readonly nearCapRatio?: number;
  /** Oldest acceptable signing key, in ms. Default: the policy's signing.rotationPeriod, else 90 days. */
  readonly signingKeyMaxAgeMs?: number;
}

/** Kinds of hygiene finding. */
export type HygieneFindingKind =
  | 'api_key_past_rotation'
  | 'client_past_rotation'
  | 'api_key_expiring_soon'
  | 'api_key_unused'
  | 'api_key_over_max_age'
  | 'token_lifetime_over_cap'
  | 'token_lifetime_near_cap'
  | 'signing_key_past_age'
  | 'route_without_basis'
  | 'route_not_in_policy'
  | 'retention_not_declared'
  | 'audit_kept_past_retention';

/** One thing to fix. */
export interface HygieneFinding {
  readonly kind: HygieneFindingKind;
  readonly severity: 'high' | 'medium' | 'low';
  /** What it is about: a client id, an API key id (`ak_…`), a signing key id, a route. */
  readonly target: string;
  readonly message: string;
  /** The figures behind the finding. */
  readonly figures: Readonly<Record<string, string | number>>;
}

/** Credential and policy hygiene: what to rotate, retire, shorten or document. */
export interface HygieneReport extends ReportHeader {
  readonly kind: 'hygiene';
  /** Whether API keys and signing keys were checked. */
  readonly checked: { readonly apiKeys: number | null; readonly signingKeys: number | null };
  /** The policy's retention of Tokenwarden's own records; null without a policy. */
  readonly retention: readonly RetentionRow[] | null;
  readonly findings: readonly HygieneFinding[];
}

const SEVERITY = { high: 0, medium: 1, low: 2 } as const;

/**
 * Finds clients and API keys past their rotation period, keys expiring soon, unused or older than
 * their cap, tokens issued with lifetimes near or over the cap, signing keys past their age, and
 * routes that reach personal data without a purpose or lawful basis. Reads the trail once (token
 * lifetimes, key uses, routes called) when a source is given.
 */
export async function hygieneReport(
  source: AuditSource | undefined,
  options: HygieneOptions = {},
): Promise<HygieneReport> {
  const policy = options.policy;
  const view = new PolicyView(policy);
  const now = (options.now ?? Date.now)();
  const unusedFor = options.unusedForMs ?? 30 * DAY;
  const expiringWithin = options.expiringWithinMs ?? 7 * DAY;
  const ratio = options.nearCapRatio ?? 0.9;
  const keys = options.apiKeys ?? [];
  const keyIds = new Set(keys.map((k) => k.keyId));
  const lastSeen = new Map<string, number>();
  const lifetimes = new Map<
    string,
    { near: number; over: number; max: number; examples: string[] }
  >();
  const unlisted = new CappedCounter(1_000);

  const capOf = (client: string): number | undefined =>
    policy
      ? (policy.clients[client]?.maxTokenLifetimeMs ?? policy.limits.maxTokenLifetimeMs)
      : undefined;

  const header = source
    ? await readTrail(source, options, policy, (event, time) => {
        if (event.type === 'token.issued' && event.outcome === 'success') {
          const life = event.detail?.lifetimeSeconds;
          const cap = event.client === undefined ? undefined : capOf(event.client);
          if (typeof life !== 'number' || cap === undefined || event.client === undefined) return;
          const ms = life * 1000;
          if (ms < cap * ratio) return;
          let l = lifetimes.get(event.client);
          if (!l) {
            l = { near: 0, over: 0, max: 0, examples: [] };
            lifetimes.set(event.client, l);
          }
          if (ms > cap) l.over += 1;
          else l.near += 1;
          if (life > l.max) l.max = life;
          if (l.examples.length < 5 && event.tokenId !== undefined) l.examples.push(event.tokenId);
          return;
        }
        if (event.type !== 'access.decision' || event.outcome !== 'allow') return;
        if (event.tokenId !== undefined && keyIds.has(event.tokenId)) {
          if (time > (lastSeen.get(event.tokenId) ?? -Infinity)) lastSeen.set(event.tokenId, time);
        }
        if (
          policy?.routes !== undefined &&
          event.reason !== 'public_route' &&
          event.purpose === undefined &&
          event.lawfulBasis === undefined &&
          event.route !== undefined &&
          view.route(event.method, event.route) === undefined
        ) {
          unlisted.add(`${event.method ?? ''} ${event.route}`.trim());
        }
      })
    : {
        generatedAt: iso(now),
        source: '(no audit trail read)',
        period: {},
        eventsRead: 0,
        chain: {
          verified: false,
          keyed: false,
          chains: [],
          unreadable: 0,
          unreadableAt: [],
          unchained: 0,
        },
        policy: policy !== undefined,
      };

  const findings: HygieneFinding[] = [];
  const add = (f: HygieneFinding) => findings.push(f);
  const days = (ms: number) => Math.floor(ms / DAY);

  // API keys.
  const active = keys.filter(
    (k) => k.revokedAt === undefined && k.expiresAt > now && k.replacedBy === undefined,
  );
  const newestByClient = new Map<string, ApiKeyRecord>();
  for (const k of active) {
    const client = policy?.clients[k.client];
    const age = now - k.createdAt;
    const newest = newestByClient.get(k.client);
    if (!newest || k.createdAt > newest.createdAt) newestByClient.set(k.client, k);
    if (client?.rotationPeriodMs !== undefined && age > client.rotationPeriodMs) {
      add({
        kind: 'api_key_past_rotation',
        severity: 'medium',
        target: k.keyId,
        message: `API key of ${k.client} is ${days(age)} days old, past the client's rotation period of ${days(client.rotationPeriodMs)} days: rotate it`,
        figures: {
          client: k.client,
          ageDays: days(age),
          rotationPeriodDays: days(client.rotationPeriodMs),
        },
      });
    }
    const maxAge = client?.apiKeyMaxAgeMs ?? policy?.limits.maxApiKeyAgeMs;
    if (maxAge !== undefined && k.expiresAt - k.createdAt > maxAge) {
      add({
        kind: 'api_key_over_max_age',
        severity: 'high',
        target: k.keyId,
        message: `API key of ${k.client} lives ${days(k.expiresAt - k.createdAt)} days, above the ${days(maxAge)}-day maximum: replace it with a shorter-lived key`,
        figures: {
          client: k.client,
          lifetimeDays: days(k.expiresAt - k.createdAt),
          maxAgeDays: days(maxAge),
        },
      });
    }
    if (k.expiresAt - now <= expiringWithin) {
      add({
        kind: 'api_key_expiring_soon',
        severity: 'medium',
        target: k.keyId,
        message: `API key of ${k.client} expires ${iso(k.expiresAt)}: rotate it before then`,
        figures: {
          client: k.client,
          expiresAt: iso(k.expiresAt),
          hoursLeft: Math.floor((k.expiresAt - now) / 3_600_000),
        },
      });
    }
    const used = Math.max(k.lastUsedAt ?? -Infinity, lastSeen.get(k.keyId) ?? -Infinity);
    if (age > unusedFor && (!Number.isFinite(used) || now - used > unusedFor)) {
      add({
        kind: 'api_key_unused',
        severity: 'low',
        target: k.keyId,
        message: Number.isFinite(used)
          ? `API key of ${k.client} unused for ${days(now - used)} days: revoke it if it is no longer needed`
          : `API key of ${k.client} never used in ${days(age)} days: revoke it if it is not needed`,
        figures: {
          client: k.client,
          ...(Number.isFinite(used)
            ? { lastUsedAt: iso(used), unusedDays: days(now - used) }
            : { lastUsedAt: 'never' }),
        },
      });
    }
  }
  for (const [clientId, newest] of newestByClient) {
    const period = policy?.clients[clientId]?.rotationPeriodMs;
    if (period !== undefined && now - newest.createdAt > period) {
      add({
        kind: 'client_past_rotation',
        severity: 'medium',
        target: clientId,
        message: `client ${clientId} has no API key newer than its rotation period of ${days(period)} days (newest ${days(now - newest.createdAt)} days old): rotate its keys`,
        figures: {
          newestKeyAgeDays: days(now - newest.createdAt),
          rotationPeriodDays: days(period),
        },
      });
    }
  }

  // Token lifetimes seen in the trail.
  for (const [clientId, l] of [...lifetimes.entries()].sort()) {
    const cap = capOf(clientId) as number;
    const figures = {
      tokens: l.over + l.near,
      maxLifetimeSeconds: l.max,
      capSeconds: cap / 1000,
      examples: l.examples.join(' '),
    };
    if (l.over > 0) {
      add({
        kind: 'token_lifetime_over_cap',
        severity: 'high',
        target: clientId,
        message: `${l.over} token(s) of ${clientId} were issued with lifetimes above the ${cap / 1000}s cap (longest ${l.max}s)`,
        figures: { ...figures, tokens: l.over },
      });
    }
    if (l.near > 0) {
      add({
        kind: 'token_lifetime_near_cap',
        severity: 'low',
        target: clientId,
        message: `${l.near} token(s) of ${clientId} were issued with lifetimes at ${Math.round(ratio * 100)}% or more of the ${cap / 1000}s cap: shorten them if the client allows`,
        figures: { ...figures, tokens: l.near },
      });
    }
  }

  // Signing keys: the key signing now is the one with the latest activeFrom not in the future.
  if (options.signingKeys) {
    const maxAge = options.signingKeyMaxAgeMs ?? policy?.signing.rotationPeriodMs ?? 90 * DAY;
    const signer = options.signingKeys
      .filter((k) => k.activeFrom <= now && (k.verifyUntil === undefined || k.verifyUntil > now))
      .sort((a, b) => b.activeFrom - a.activeFrom)[0];
    for (const k of options.signingKeys) {
      const age = now - k.activeFrom;
      const signing = k === signer;
      const retiredLate = k.verifyUntil !== undefined && k.verifyUntil <= now;
      if ((signing && age > maxAge) || retiredLate) {
        add({
          kind: 'signing_key_past_age',
          severity: 'medium',
          target: k.kid,
          message: signing
            ? `signing key ${k.kid} has signed for ${days(age)} days, past ${days(maxAge)} days: run tokenwarden keys rotate`
            : `signing key ${k.kid} stopped verifying at ${iso(k.verifyUntil as number)} but is still kept: let the ring retire it`,
          figures: {
            alg: k.alg,
            activeFrom: iso(k.activeFrom),
            ageDays: days(age),
            maxAgeDays: days(maxAge),
          },
        });
      }
    }
  }

  // Retention of Tokenwarden's own records.
  const retention = policy === undefined ? null : retentionRows(policy.retention);
  for (const finding of retentionFindings(retention, policy?.retention, header.period, now)) {
    add(finding);
  }

  // Routes.
  for (const r of policy?.routes ?? []) {
    const cats = view.categoriesOf(r.scopes);
    if (cats.length > 0 && r.purpose === undefined && r.lawfulBasis === undefined) {
      add({
        kind: 'route_without_basis',
        severity: 'high',
        target: PolicyView.label(r),
        message: `route ${PolicyView.label(r)} reaches ${cats.join(', ')} without a purpose (consent) or lawful basis: add one`,
        figures: { dataCategories: cats.join(' ') },
      });
    }
  }
  for (const { key, count } of unlisted.entries()) {
    add({
      kind: 'route_not_in_policy',
      severity: 'medium',
      target: key,
      message: `route ${key} answered ${count} request(s) but is not in the policy and named no purpose or lawful basis: declare it`,
      figures: { allowedRequests: count },
    });
  }

  findings.sort(
    (a, b) =>
      SEVERITY[a.severity] - SEVERITY[b.severity] ||
      (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) ||
      (a.target < b.target ? -1 : a.target > b.target ? 1 : 0),
  );
  return {
    kind: 'hygiene',
    ...header,
    checked: {
      apiKeys: options.apiKeys ? options.apiKeys.length : null,
      signingKeys: options.signingKeys ? options.signingKeys.length : null,
    },
    retention,
    findings,
  };
}
