import type { AuditEvent } from '../audit';
import { CredentialTrace } from './exposure-trace';
import type { ExposureOptions, ExposureReport, ExposureSelector } from './exposure-types';
import { UseTally } from './exposure-uses';
import { iso, PolicyView, readTrail } from './read';
import type { AuditSource, ReportHeader } from './types';

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
  const collector = new ExposureCollector(selector, options);
  const header = await readTrail(source, options, options.policy, (event, time) => {
    collector.visit(event, time);
  });
  return collector.finish(header);
}

/**
 * The pass of an exposure report over the trail, for reports that build on it (the breach
 * report) and read the trail once: `visit` every event, then `finish` with the header.
 * @internal
 */
export class ExposureCollector {
  private readonly view: PolicyView;
  private readonly trace: CredentialTrace;
  private readonly uses: UseTally;

  constructor(
    private readonly selector: ExposureSelector,
    private readonly options: ExposureOptions,
  ) {
    this.view = new PolicyView(options.policy);
    this.trace = new CredentialTrace(selector);
    this.uses = new UseTally(this.view, {
      leakedAt: options.leakedAt,
      maxListed: options.maxUsesListed ?? 10_000,
      maxDistinct: options.maxDistinct ?? 1_000,
    });
  }

  /** The earliest revocation read so far that applies to the credential (epoch ms). */
  get revokedSoFar(): number | undefined {
    return this.trace.revokedSoFar;
  }

  /** Reads one event; true when it is a use of the credential (an access decision it made). */
  visit(event: AuditEvent, time: number): boolean {
    if (!this.trace.read(event, time)) return false;
    this.uses.add(event, time, this.trace.revokedSoFar);
    return true;
  }

  /** The report, once every event was visited. */
  async finish(header: ReportHeader): Promise<ExposureReport> {
    const { selector, options, view, trace, uses } = this;
    const policy = options.policy;
    const leak = options.leakedAt;
    // Policy: what the scopes reach, and the client's limits.
    const { scopes, scopesFrom } = trace;
    if (options.apiKey) {
      for (const s of options.apiKey.scopes) scopes.add(s);
      scopesFrom.add('api_key');
      trace.issuedAt ??= options.apiKey.createdAt;
      trace.expiresAt ??= options.apiKey.expiresAt;
    }
    if ('client' in selector && policy?.clients[selector.client]) {
      for (const s of policy.clients[selector.client]!.scopes) scopes.add(s);
      scopesFrom.add('policy');
    }
    const clientId = trace.clientId();
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

    const { revokedAt, events } = trace.applyingRevocations();
    const current = options.store ? await options.store.lookup(trace.storeQuery()) : undefined;
    const { issuedAt, expiresAt, lifetimeSeconds } = trace;

    return {
      kind: 'exposure',
      ...header,
      credential: trace.credential(),
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
        tokensIssued: trace.tokensIssued,
      },
      revocation: {
        revoked: events.length > 0 || current?.tokenRevoked === true,
        ...(revokedAt !== undefined ? { revokedAt: iso(revokedAt) } : {}),
        events,
        ...(current !== undefined ? { current } : {}),
        allowedAfterRevocation: uses.afterRevocation(),
      },
      didReach: uses.result(trace.tokenIds.values.size),
    };
  }
}
