import { describe, expect, it } from '@jest/globals';
import {
  accessReport,
  formatReport,
  hygieneReport,
  MemorySource,
  scopesReport,
} from '@tokenwarden/core/reports';
import { DAY, ROUTE_SCOPES, scenario, T0 } from './generate';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('accessReport (Art. 15)', () => {
  const s = scenario();
  const truth = s.builder.subjects.get('cust-3')!;

  it('says which clients and tokens touched the person, when, for which purpose', async () => {
    const report = await accessReport(new MemorySource(s.events), 'cust-3', { policy: s.policy });
    expect(truth.accesses).toBeGreaterThan(3);
    expect(report.accesses).toBe(truth.accesses);
    expect(report.allowed).toBe(truth.allowed);
    expect(report.denied).toBe(truth.accesses - truth.allowed);
    expect(report.firstAccess).toBe(iso(truth.first));
    expect(report.lastAccess).toBe(iso(truth.last));
    expect(
      Object.fromEntries(
        report.recipients.map((r) => [
          r.client,
          { accesses: r.accesses, allowed: r.allowed, tokens: r.tokens, purposes: r.purposes },
        ]),
      ),
    ).toEqual(
      Object.fromEntries(
        [...truth.byClient].map(([client, c]) => [
          client,
          {
            accesses: c.accesses,
            allowed: c.allowed,
            tokens: c.tokens.size,
            purposes: [...c.purposes].sort(),
          },
        ]),
      ),
    );
    expect(
      Object.fromEntries(report.purposes.map((p) => [`${p.purpose}/${p.lawfulBasis}`, p.accesses])),
    ).toEqual(Object.fromEntries(truth.purposes));
    expect(Object.fromEntries(report.dataCategories.map((c) => [c.category, c.accesses]))).toEqual(
      Object.fromEntries(truth.categories),
    );
    expect(Object.fromEntries(report.tokens.map((t) => [t.tokenId, t.accesses]))).toEqual(
      Object.fromEntries(truth.tokens),
    );
    expect(report.consent).toEqual(
      truth.consent.map((c) =>
        expect.objectContaining({ time: iso(c.time), type: c.type, purpose: c.purpose }),
      ),
    );
    expect(report.accessesListed).toHaveLength(truth.accesses);
    expect(report.chain.verified).toBe(true);
    const text = formatReport(report, 'text');
    expect(text).toContain('ACCESS REPORT: DATA SUBJECT CUST-3');
    expect(text).toContain('audit chain: verified');
  });

  it('is empty, and says so, for a person the trail never touched', async () => {
    const report = await accessReport(new MemorySource(s.events), 'nobody', { policy: s.policy });
    expect(report.accesses).toBe(0);
    expect(report.recipients).toEqual([]);
    expect(formatReport(report, 'markdown')).toContain('_none_');
  });
});

describe('scopesReport (least privilege)', () => {
  const s = scenario();

  it('gives per client the scopes granted, exercised and to remove', async () => {
    const report = await scopesReport(new MemorySource(s.events), { policy: s.policy });
    const byClient = Object.fromEntries(report.clients.map((c) => [c.client, c]));
    for (const [client, listed] of Object.entries(s.policy.clients)) {
      const exercised = s.builder.exercised.get(client) ?? new Map<string, number>();
      const c = byClient[client]!;
      expect(c.granted).toEqual([...listed.scopes].sort());
      expect(Object.fromEntries(c.exercised.map((e) => [e.scope, e.uses]))).toEqual(
        Object.fromEntries(exercised),
      );
      expect(c.toRemove).toEqual([...listed.scopes].filter((x) => !exercised.has(x)).sort());
    }
    expect(byClient['support-console']!.toRemove).toEqual(['customers:write']);
    expect(byClient['support-console']!.insufficientScope).toBe(10);
    expect(byClient['crm']!.toRemove).toEqual([]);
    expect(byClient['batch']!.toRemove).toEqual([]);
    expect(byClient['legacy-app']).toEqual(
      expect.objectContaining({
        inPolicy: false,
        unattributed: 4,
        granted: ['orders:read'],
        toRemove: [],
      }),
    );
    expect(byClient['support-console']!.tokensIssued).toBe(11);
    expect(formatReport(report, 'text')).toContain('  support-console: customers:write');
  });

  it('over a later window, a scope used only before it is to be removed', async () => {
    const report = await scopesReport(new MemorySource(s.events), {
      policy: s.policy,
      since: T0 + DAY,
    });
    const crm = report.clients.find((c) => c.client === 'crm')!;
    // The only marketing reads were the leaked token's, in the first hour.
    expect(crm.toRemove).toEqual(['marketing:read']);
    const later = s.events.filter(
      (e) => e.client === 'crm' && e.outcome === 'allow' && Date.parse(e.time) >= T0 + DAY,
    );
    expect(crm.exercised).toEqual([
      expect.objectContaining({ scope: 'customers:read', uses: later.length }),
    ]);
    const csv = formatReport(report, 'csv');
    expect(csv).toContain('crm,marketing:read,true,false,0,,true\r\n');
  });

  it('uses the route table of the generator and the policy alike', () => {
    for (const r of s.policy.routes ?? [])
      expect(ROUTE_SCOPES[`${r.method} ${r.path}`]).toEqual(r.scopes);
  });
});

describe('hygieneReport', () => {
  const s = scenario();

  it('finds every key, lifetime, signing-key and route problem of the scenario, and nothing else', async () => {
    const report = await hygieneReport(new MemorySource(s.events), {
      policy: s.policy,
      apiKeys: s.apiKeys,
      signingKeys: s.signingKeys,
      now: () => s.now,
    });
    const found = report.findings.map((f) => `${f.kind} ${f.target}`).sort();
    expect(found).toEqual(
      [
        'api_key_past_rotation ak_batch1',
        'api_key_past_rotation ak_sup_old',
        'client_past_rotation batch',
        'api_key_expiring_soon ak_sup_old',
        'api_key_over_max_age ak_sup_old',
        'api_key_unused ak_sup_old',
        'token_lifetime_over_cap support-console',
        'token_lifetime_near_cap crm',
        'token_lifetime_near_cap support-console',
        'signing_key_past_age k-current',
        'signing_key_past_age k-old',
        'route_without_basis GET /exports/orders',
        'route_not_in_policy GET /legacy/export',
        // The scenario's policy declares no retention: one low finding per record kept.
        'retention_not_declared retention.audit',
        'retention_not_declared retention.spool',
        'retention_not_declared retention.consentAfterWithdrawal',
        'retention_not_declared retention.revocationMarks',
      ].sort(),
    );
    const figures = (kind: string, target: string) =>
      report.findings.find((f) => f.kind === kind && f.target === target)!.figures;
    expect(figures('api_key_past_rotation', 'ak_batch1')).toEqual(
      expect.objectContaining({ ageDays: 50, rotationPeriodDays: 7 }),
    );
    expect(figures('api_key_expiring_soon', 'ak_sup_old')).toEqual(
      expect.objectContaining({ hoursLeft: 72 }),
    );
    expect(figures('api_key_over_max_age', 'ak_sup_old')).toEqual(
      expect.objectContaining({ lifetimeDays: 38, maxAgeDays: 30 }),
    );
    expect(figures('api_key_unused', 'ak_sup_old')).toEqual(
      expect.objectContaining({ lastUsedAt: 'never' }),
    );
    expect(figures('token_lifetime_over_cap', 'support-console')).toEqual(
      expect.objectContaining({ tokens: 1, maxLifetimeSeconds: 1200, capSeconds: 900 }),
    );
    expect(figures('token_lifetime_near_cap', 'support-console')).toEqual(
      expect.objectContaining({ tokens: 10 }),
    );
    expect(figures('token_lifetime_near_cap', 'crm')).toEqual(
      expect.objectContaining({ tokens: 1, capSeconds: 600, examples: 'tok-leak' }),
    );
    expect(figures('signing_key_past_age', 'k-current')).toEqual(
      expect.objectContaining({ ageDays: 45, maxAgeDays: 30 }),
    );
    expect(figures('route_not_in_policy', 'GET /legacy/export')).toEqual({ allowedRequests: 4 });
    expect(report.findings[0]!.severity).toBe('high');
    expect(report.checked).toEqual({ apiKeys: 4, signingKeys: 3 });
    expect(report.chain.verified).toBe(true);
  });

  it('without a trail: only the credential and policy checks, and it says no trail was read', async () => {
    const report = await hygieneReport(undefined, {
      policy: s.policy,
      apiKeys: s.apiKeys,
      now: () => s.now,
    });
    expect(report.source).toBe('(no audit trail read)');
    expect(report.chain.verified).toBe(false);
    // ak_batch1's only uses are in the trail: without it the key looks unused.
    expect(report.findings.map((f) => `${f.kind} ${f.target}`)).toContain(
      'api_key_unused ak_batch1',
    );
    expect(report.checked.signingKeys).toBeNull();
    expect(formatReport(report, 'markdown')).toContain('- **signing keys checked**: not read');
  });
});
