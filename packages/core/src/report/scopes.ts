import type { Policy } from '../policy/types';
import { iso, PolicyView, readTrail } from './read';
import type { AuditSource, ReportHeader, ReportOptions } from './types';

/** Options of {@link scopesReport}. */
export interface ScopesOptions extends ReportOptions {
  /** The policy: the scopes each client is granted and the scopes each route needs. */
  readonly policy?: Policy;
  /** Most clients reported (clients seen in the trail beyond it are counted). Default: 10000. */
  readonly maxClients?: number;
}

/** One scope a client used. */
export interface ExercisedScope {
  readonly scope: string;
  /** Allowed requests that needed it. */
  readonly uses: number;
  readonly lastUse: string;
}

/** Granted vs exercised scopes of one client. */
export interface ClientScopes {
  readonly client: string;
  /** Whether the policy lists the client. */
  readonly inPolicy: boolean;
  /** Scopes the policy grants (or, for a client it does not list, the scopes its tokens carried). */
  readonly granted: readonly string[];
  /** Scopes the client's tokens and keys carried in the period. */
  readonly carried: readonly string[];
  /** Scopes its allowed requests needed (from the policy's routes). */
  readonly exercised: readonly ExercisedScope[];
  /**
   * Granted but never exercised in the period: the scopes to remove (none for a client the
   * policy does not list). Requests on routes the policy does not list (`unattributed`) are not
   * counted as using any scope.
   */
  readonly toRemove: readonly string[];
  /** Carried by its tokens but not granted by the policy. */
  readonly carriedNotGranted: readonly string[];
  readonly allowed: number;
  readonly denied: number;
  /** Denials for a missing scope. */
  readonly insufficientScope: number;
  /** Allowed requests on routes the policy does not list: their scopes are unknown. */
  readonly unattributed: number;
  readonly tokensIssued: number;
}

/** Least privilege: per client, scopes granted vs scopes exercised over the period. */
export interface ScopesReport extends ReportHeader {
  readonly kind: 'scopes';
  readonly clients: readonly ClientScopes[];
  /** Clients seen beyond `maxClients`. */
  readonly clientsNotReported: number;
}

interface ClientState {
  readonly carried: Set<string>;
  readonly exercised: Map<string, { uses: number; last: number }>;
  allowed: number;
  denied: number;
  insufficientScope: number;
  unattributed: number;
  tokensIssued: number;
}

/**
 * Per client, the scopes the policy grants against the scopes its requests actually needed over
 * the period, and the scopes to remove. A scope counts as exercised when an allowed request hit a
 * policy route that requires it.
 *
 * @example
 * const report = await scopesReport(source, { policy, since: Date.now() - 30 * 86_400_000 });
 */
export async function scopesReport(
  source: AuditSource,
  options: ScopesOptions = {},
): Promise<ScopesReport> {
  const policy = options.policy;
  const view = new PolicyView(policy);
  const maxClients = options.maxClients ?? 10_000;
  const clients = new Map<string, ClientState>();
  const overflow = new Set<string>();
  const state = (client: string): ClientState | undefined => {
    let s = clients.get(client);
    if (s) return s;
    if (clients.size >= maxClients) {
      if (overflow.size < 100_000) overflow.add(client);
      return undefined;
    }
    s = {
      carried: new Set(),
      exercised: new Map(),
      allowed: 0,
      denied: 0,
      insufficientScope: 0,
      unattributed: 0,
      tokensIssued: 0,
    };
    clients.set(client, s);
    return s;
  };
  for (const client of Object.keys(policy?.clients ?? {})) state(client);

  const header = await readTrail(source, options, policy, (event, time) => {
    if (event.client === undefined) return;
    const issued =
      (event.type === 'token.issued' ||
        event.type === 'apikey.created' ||
        event.type === 'apikey.rotated') &&
      event.outcome === 'success';
    if (!issued && event.type !== 'access.decision') return;
    const s = state(event.client);
    if (!s) return;
    for (const scope of event.scopes ?? []) s.carried.add(scope);
    if (issued) {
      if (event.type === 'token.issued') s.tokensIssued += 1;
      return;
    }
    if (event.outcome !== 'allow') {
      s.denied += 1;
      if (event.reason === 'insufficient_scope') s.insufficientScope += 1;
      return;
    }
    s.allowed += 1;
    const route = view.route(event.method, event.route);
    if (!route) {
      s.unattributed += 1;
      return;
    }
    for (const scope of route.scopes) {
      const e = s.exercised.get(scope);
      if (e) {
        e.uses += 1;
        if (time > e.last) e.last = time;
      } else {
        s.exercised.set(scope, { uses: 1, last: time });
      }
    }
  });

  const reported: ClientScopes[] = [...clients.entries()]
    .map(([client, s]) => {
      const listed = policy?.clients[client];
      const granted = listed ? [...listed.scopes].sort() : [...s.carried].sort();
      const exercised = [...s.exercised.entries()]
        .map(([scope, e]) => ({ scope, uses: e.uses, lastUse: iso(e.last) }))
        .sort((a, b) => (a.scope < b.scope ? -1 : 1));
      return {
        client,
        inPolicy: listed !== undefined,
        granted,
        carried: [...s.carried].sort(),
        exercised,
        // A client the policy does not list has no grant to trim: it must be declared first.
        toRemove: listed ? granted.filter((g) => !s.exercised.has(g)) : [],
        carriedNotGranted: listed
          ? [...s.carried].filter((c) => !listed.scopes.includes(c)).sort()
          : [],
        allowed: s.allowed,
        denied: s.denied,
        insufficientScope: s.insufficientScope,
        unattributed: s.unattributed,
        tokensIssued: s.tokensIssued,
      };
    })
    .sort((a, b) => (a.client < b.client ? -1 : 1));

  return { kind: 'scopes', ...header, clients: reported, clientsNotReported: overflow.size };
}
