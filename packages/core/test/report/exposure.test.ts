import { describe, expect, it } from '@jest/globals';
import { MemoryStore } from '@tokenwarden/core';
import { exposureReport, MemorySource, formatReport } from '@tokenwarden/core/reports';
import { chainedEvents } from '@tokenwarden/testing';
import { HOUR, scenario, SEC, T0 } from './generate';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const sortedCounts = (m: Map<string, number>) =>
  [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

describe('exposureReport', () => {
  const s = scenario();
  const truth = s.builder.uses.get('tok-leak')!;

  it('gives every figure of a leaked token against the known truth', async () => {
    const report = await exposureReport(
      new MemorySource(s.events),
      { tokenId: 'tok-leak' },
      { policy: s.policy, leakedAt: s.leakedAt, now: () => s.now },
    );
    // What it could reach: the token's scopes through the policy.
    expect(report.credential).toEqual({ kind: 'token', id: 'tok-leak' });
    expect(report.couldReach.scopes).toEqual(['customers:read', 'marketing:read']);
    expect(report.couldReach.dataCategories).toEqual(['contact_details', 'marketing_profile']);
    expect(report.couldReach.routes.map((r) => r.route)).toEqual([
      'GET /customers/:id',
      'GET /customers/:id/offers',
    ]);
    expect(report.couldReach.purposes).toEqual([
      { purpose: 'marketing', lawfulBasis: 'consent' },
      { purpose: 'order_fulfilment', lawfulBasis: 'contract' },
    ]);
    expect(report.couldReach.issuedAt).toBe(iso(T0 + HOUR));
    expect(report.couldReach.expiresAt).toBe(iso(T0 + HOUR + 600 * SEC));
    expect(report.couldReach.lifetimeSeconds).toBe(600);
    expect(report.couldReach.maxTokenLifetimeSeconds).toBe(600);

    // Revocation.
    expect(report.revocation.revoked).toBe(true);
    expect(report.revocation.revokedAt).toBe(iso(s.revokedAt));
    expect(report.revocation.events).toEqual([
      expect.objectContaining({
        type: 'token.revoked',
        actor: 'incident-response',
        reason: 'leaked',
      }),
    ]);
    expect(report.revocation.allowedAfterRevocation).toBe(truth.allowedAfterRevocation);

    // What it did reach.
    const d = report.didReach;
    expect(truth.uses).toBe(60);
    expect(d.uses).toBe(truth.uses);
    expect(d.allowed).toBe(truth.allowed);
    expect(d.denied).toBe(truth.denied);
    expect(d.firstUse).toBe(iso(truth.first));
    expect(d.lastUse).toBe(iso(truth.last));
    expect(d.usesAfterLeak).toBe(truth.usesAfterLeak);
    expect(d.allowedAfterLeak).toBe(truth.allowedAfterLeak);
    expect(d.firstUseAfterLeak).toBe(iso(truth.firstAfterLeak));
    expect(d.tokens).toBe(1);
    expect(d.dataSubjectsByCategory).toEqual(
      [...truth.usesByCategory.keys()].sort().map((category) => ({
        category,
        dataSubjects: truth.subjectsByCategory.get(category)?.size ?? 0,
        dataSubjectsAfterLeak: truth.subjectsAfterLeakByCategory.get(category)?.size ?? 0,
        uses: truth.usesByCategory.get(category),
      })),
    );
    const everyone = new Set([...truth.subjectsByCategory.values()].flatMap((x) => [...x]));
    expect(d.dataSubjects).toBe(everyone.size);
    expect(d.dataSubjectIds).toEqual([...everyone].sort());
    expect(d.clientAddresses).toEqual(
      sortedCounts(truth.addresses).map(([address, uses]) => ({
        address,
        uses,
        afterLeak: truth.addressesAfterLeak.get(address) ?? 0,
      })),
    );
    expect(d.userAgents).toEqual(
      sortedCounts(truth.userAgents).map(([userAgent, uses]) => ({ userAgent, uses })),
    );
    expect(
      Object.fromEntries(d.routes.map((r) => [r.route, { allowed: r.allowed, denied: r.denied }])),
    ).toEqual(Object.fromEntries(truth.routes));
    expect(d.usesListed).toHaveLength(60);
    expect(d.usesListed.filter((u) => u.afterLeak)).toHaveLength(truth.usesAfterLeak);
    expect(d.usesListed[59]).toEqual(
      expect.objectContaining({
        outcome: 'deny',
        reason: 'token_revoked',
        clientAddress: '198.51.100.0',
        userAgent: 'curl/8.5.0',
      }),
    );
    expect(d.usesTruncated).toBe(false);

    // The header: period and chain.
    expect(report.chain.verified).toBe(true);
    expect(report.chain.chains).toHaveLength(2);
    expect(report.eventsRead).toBe(s.events.length);
    expect(report.period.firstEvent).toBe(s.events[0]!.time);
    expect(report.period.lastEvent).toBe(s.events[s.events.length - 1]!.time);
  });

  it('finds the token by its fingerprint too, and the store says whether it is revoked now', async () => {
    const store = new MemoryStore();
    await store.revokeToken('tok-leak', s.now + HOUR);
    const report = await exposureReport(
      new MemorySource(s.events),
      { tokenId: 'fp-tok-leak' },
      { policy: s.policy, store },
    );
    expect(report.didReach.uses).toBe(60);
    expect(report.revocation.current?.tokenRevoked).toBe(true);
    await store.close();
  });

  it('limits the period with since and until', async () => {
    const since = s.leakedAt;
    const until = s.revokedAt;
    const report = await exposureReport(
      new MemorySource(s.events),
      { tokenId: 'tok-leak' },
      { policy: s.policy, since, until },
    );
    const inWindow = s.events.filter(
      (e) =>
        e.tokenId === 'tok-leak' &&
        e.type === 'access.decision' &&
        Date.parse(e.time) >= since &&
        Date.parse(e.time) <= until,
    );
    expect(report.didReach.uses).toBe(inWindow.length);
    expect(report.period.since).toBe(iso(since));
    expect(report.period.until).toBe(iso(until));
    // A window of the trail starts and ends inside the chains: they still verify.
    expect(report.chain.verified).toBe(true);
    expect(report.chain.chains.every((c) => c.startsAfterFirst)).toBe(true);
  });

  it('reports an API key: its uses, its scopes and lifetime from its creation event', async () => {
    const truthKey = s.builder.uses.get('ak_batch1')!;
    const report = await exposureReport(
      new MemorySource(s.events),
      { apiKeyId: 'ak_batch1' },
      { policy: s.policy },
    );
    expect(report.credential.kind).toBe('api_key');
    expect(report.couldReach.scopes).toEqual(['orders:read']);
    expect(report.couldReach.expiresAt).toBe(iso(T0 + 50 * 86_400_000));
    expect(report.couldReach.routes.map((r) => r.route)).toEqual([
      'GET /orders/:id',
      'GET /exports/orders',
    ]);
    expect(report.didReach.uses).toBe(truthKey.uses);
    expect(report.didReach.allowedWithoutDataSubject).toBe(3);
    expect(report.revocation.revoked).toBe(false);
  });

  it('reports a whole client: every token, the policy grant, distinct data subjects', async () => {
    const report = await exposureReport(
      new MemorySource(s.events),
      { client: 'crm' },
      { policy: s.policy },
    );
    const uses = s.events.filter((e) => e.client === 'crm' && e.type === 'access.decision');
    expect(report.didReach.uses).toBe(uses.length);
    expect(report.didReach.tokens).toBe(21);
    expect(report.couldReach.scopesFrom).toEqual(['issuance', 'policy', 'uses']);
    expect(report.couldReach.tokensIssued).toBe(21);
    const contact = new Set(
      uses
        .filter((e) => e.outcome === 'allow' && e.route === '/customers/:id')
        .map((e) => e.dataSubject),
    );
    expect(
      report.didReach.dataSubjectsByCategory.find((c) => c.category === 'contact_details')
        ?.dataSubjects,
    ).toBe(contact.size);
  });

  it('renders Markdown for the breach record, and CSV with one row per use', async () => {
    const report = await exposureReport(
      new MemorySource(s.events),
      { tokenId: 'tok-leak' },
      { policy: s.policy, leakedAt: s.leakedAt, now: () => s.now },
    );
    const md = formatReport(report, 'markdown');
    expect(md).toContain('# Exposure report: token tok-leak');
    expect(md).toContain(
      `- **uses after the suspected leak**: ${truth.usesAfterLeak} (${truth.allowedAfterLeak} allowed)`,
    );
    expect(md).toContain('- **audit chain**: verified: 2 chain(s)');
    expect(md).toContain('| contact_details |');
    const csv = formatReport(report, 'csv').trimEnd().split('\r\n');
    expect(csv).toHaveLength(61);
    expect(csv[0]).toMatch(/^time,outcome,reason,method,route/);
  });
});

describe('exposureReport on a busy client', () => {
  it('lists at most maxUsesListed uses, counts them all, and says so in Markdown', async () => {
    const events = chainedEvents('p1', 1, 120, undefined, () => ({ client: 'busy' }));
    const report = await exposureReport(
      new MemorySource(events),
      { client: 'busy' },
      { maxUsesListed: 70 },
    );
    expect(report.didReach.uses).toBe(120);
    expect(report.didReach.usesListed).toHaveLength(70);
    expect(report.didReach.usesTruncated).toBe(true);
    expect(formatReport(report, 'markdown')).toContain(
      '… 70 more: the CSV and JSON formats list up to 10000',
    );
  });
});
