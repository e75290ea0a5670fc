import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '@tokenwarden/core/internal';
import { checkPolicy, type Policy } from '@tokenwarden/core/policy';
import {
  formatReport,
  MemorySource,
  processingReport,
  type ProcessingReport,
} from '@tokenwarden/core/reports';
import { POLICY_TEXT, ROUTES, scenario } from './generate';

/** The test policy with everything the records of processing ask for. */
const COMPLETE_POLICY = POLICY_TEXT.replace(
  'audience: customers-api\n',
  'audience: customers-api\ncontroller: { name: Example Shop GmbH, contact: privacy@shop.example, dpo: dpo@shop.example }\n',
)
  .replace(
    'marketing: { description: Offers, lawfulBasis: consent }',
    'marketing: { description: Offers, lawfulBasis: consent, dataSubjects: [customers, newsletter_subscribers], retention: 730d }',
  )
  .replace(
    'order_fulfilment: { description: Delivering orders, lawfulBasis: contract }',
    'order_fulfilment: { description: Delivering orders, lawfulBasis: contract, dataSubjects: [customers], retention: 3650d }',
  )
  .replace(
    'apiKeyMaxAge: 30d, rotationPeriod: 14d }',
    'apiKeyMaxAge: 30d, rotationPeriod: 14d, recipient: { category: support team (internal), country: DE } }',
  )
  .replace(
    'maxTokenLifetime: 10m }',
    'maxTokenLifetime: 10m, recipient: { category: CRM provider (processor), country: US } }',
  )
  .replace(
    'rotationPeriod: 7d }',
    'rotationPeriod: 7d, recipient: { category: fulfilment centre, country: NO } }',
  );

function policyOf(text: string): Policy {
  const result = checkPolicy(text);
  if (!result.policy) throw new Error(JSON.stringify(result.diagnostics));
  return result.policy;
}

/** What the records should say per activity, from the events and the generator's route table. */
function truthOf(events: readonly AuditEvent[]) {
  const activities = new Map<
    string,
    {
      accesses: number;
      allowed: number;
      subjects: Set<string>;
      clients: Map<string, { allowed: number; denied: number }>;
      denials: Map<string, number>;
    }
  >();
  const unattributed = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'access.decision') continue;
    const label = `${e.method} ${e.route}`;
    const meta = ROUTES[label]!;
    const name =
      meta.purpose ?? (meta.basis !== undefined ? `${meta.basis} (no purpose named)` : undefined);
    const ok = e.outcome === 'allow';
    if (name === undefined) {
      if (ok) unattributed.set(label, (unattributed.get(label) ?? 0) + 1);
      continue;
    }
    const a = activities.get(name) ?? {
      accesses: 0,
      allowed: 0,
      subjects: new Set<string>(),
      clients: new Map(),
      denials: new Map<string, number>(),
    };
    activities.set(name, a);
    a.accesses += 1;
    const c = a.clients.get(e.client!) ?? { allowed: 0, denied: 0 };
    a.clients.set(e.client!, c);
    if (ok) {
      a.allowed += 1;
      c.allowed += 1;
      if (e.dataSubject !== undefined) a.subjects.add(e.dataSubject);
    } else {
      c.denied += 1;
      a.denials.set(e.reason!, (a.denials.get(e.reason!) ?? 0) + 1);
    }
  }
  return { activities, unattributed };
}

describe('processingReport (records of processing, Art. 30)', () => {
  const s = scenario();

  it('gives each purpose its basis, data, recipients and the use the trail shows', async () => {
    const report = await processingReport(new MemorySource(s.events), {
      policy: s.policy,
      now: () => s.now,
    });
    const truth = truthOf(s.events);
    expect(report.kind).toBe('processing');
    expect(report.chain.verified).toBe(true);
    expect(report.activities.map((a) => a.name)).toEqual([
      'contract (no purpose named)',
      'marketing',
      'order_fulfilment',
    ]);
    const marketing = report.activities.find((a) => a.name === 'marketing')!;
    expect(marketing).toMatchObject({
      purpose: 'marketing',
      description: 'Offers',
      lawfulBasis: 'consent',
      inPolicy: true,
      dataCategories: ['marketing_profile'],
      routes: ['GET /customers/:id/offers'],
      recipients: ['crm'],
      dataSubjectCategories: [],
    });
    expect(marketing.retentionSeconds).toBeUndefined();
    expect(marketing.observed.consent).toEqual({ granted: 1, withdrawn: 1, expired: 0 });
    const fulfilment = report.activities.find((a) => a.name === 'order_fulfilment')!;
    expect(fulfilment.dataCategories).toEqual(['contact_details', 'purchase_history']);
    expect(fulfilment.recipients).toEqual(['batch', 'crm', 'support-console']);
    const basisOnly = report.activities.find((a) => a.name === 'contract (no purpose named)')!;
    expect(basisOnly).toMatchObject({ lawfulBasis: 'contract', routes: ['PUT /customers/:id'] });
    expect(basisOnly.purpose).toBeUndefined();

    for (const a of report.activities) {
      const t = truth.activities.get(a.name)!;
      expect(a.observed.accesses).toBe(t.accesses);
      expect(a.observed.allowed).toBe(t.allowed);
      expect(a.observed.denied).toBe(t.accesses - t.allowed);
      expect(a.observed.dataSubjects).toBe(t.subjects.size);
      expect(a.observed.dataSubjectsExact).toBe(true);
      expect(a.observed.clients).toEqual(
        expect.arrayContaining([...t.clients.entries()].map(([client, c]) => ({ client, ...c }))),
      );
      expect(a.observed.clients).toHaveLength(t.clients.size);
      expect(Object.fromEntries(a.observed.denials.map((d) => [d.reason, d.count]))).toEqual(
        Object.fromEntries(t.denials),
      );
    }
    expect(report.activities.find((a) => a.name === 'marketing')!.observed.dataSubjects).toBe(5);

    // The export route names neither purpose nor basis; the legacy client's route is unlisted.
    expect(report.routesWithoutBasis).toEqual(['GET /exports/orders']);
    expect(report.unattributed.allowed).toBe(
      [...truth.unattributed.values()].reduce((x, y) => x + y, 0),
    );
    expect(report.unattributed.routes).toEqual([
      { route: 'GET /legacy/export', allowed: 4 },
      { route: 'GET /exports/orders', allowed: 3 },
    ]);
  });

  it('lists the recipients with what they may reach and what they did', async () => {
    const report = await processingReport(new MemorySource(s.events), { policy: s.policy });
    const byClient = Object.fromEntries(report.recipients.map((r) => [r.client, r]));
    expect(report.recipients.map((r) => r.client)).toEqual([
      'batch',
      'crm',
      'support-console',
      'legacy-app',
    ]);
    expect(byClient['crm']).toMatchObject({
      inPolicy: true,
      scopes: ['customers:read', 'marketing:read'],
      dataCategories: ['contact_details', 'marketing_profile'],
      activities: ['marketing', 'order_fulfilment'],
      observed: { tokensIssued: 21, activities: ['marketing', 'order_fulfilment'] },
    });
    const crmDecisions = s.events.filter((e) => e.type === 'access.decision' && e.client === 'crm');
    expect(byClient['crm']!.observed.allowed).toBe(
      crmDecisions.filter((e) => e.outcome === 'allow').length,
    );
    expect(byClient['crm']!.observed.denied).toBe(
      crmDecisions.filter((e) => e.outcome !== 'allow').length,
    );
    expect(byClient['legacy-app']).toMatchObject({
      inPolicy: false,
      scopes: [],
      observed: { allowed: 4, denied: 0 },
    });
    expect(byClient['crm']!.category).toBeUndefined();
    expect(byClient['crm']!.thirdCountry).toBeUndefined();
  });

  it('describes the security measures from the policy and counts them in the trail', async () => {
    const report = await processingReport(new MemorySource(s.events), { policy: s.policy });
    const sec = report.security;
    const issued = s.events.filter((e) => e.type === 'token.issued');
    expect(sec.tokens).toEqual({
      maxLifetimeSeconds: 900,
      clientCaps: [
        { client: 'batch', maxLifetimeSeconds: 900 },
        { client: 'crm', maxLifetimeSeconds: 600 },
        { client: 'support-console', maxLifetimeSeconds: 900 },
      ],
      issued: issued.length,
      longestIssuedSeconds: 1200,
      // tok-sup-long: 1200 s against the 900 s cap.
      issuedOverCap: 1,
    });
    expect(sec.apiKeys).toMatchObject({ maxAgeSeconds: 90 * 86_400, created: 1, rotated: 0 });
    expect(sec.apiKeys.clients).toContainEqual({
      client: 'batch',
      maxAgeSeconds: 90 * 86_400,
      rotationPeriodSeconds: 7 * 86_400,
    });
    expect(sec.signing).toEqual({
      algorithm: 'ES256',
      rotationPeriodSeconds: 30 * 86_400,
      encryptedAtRest: false,
      keysRotated: 0,
    });
    const denials = s.events.filter((e) => e.type === 'access.decision' && e.outcome === 'deny');
    expect(sec.revocation).toMatchObject({
      tokens: 1,
      subjects: 1,
      clients: 0,
      all: 0,
      refusedRevoked: denials.filter((e) => e.reason === 'token_revoked').length,
    });
    expect(sec.consent).toEqual({ refused: 1, granted: 1, withdrawn: 1 });
    expect(sec.accessControl.denied).toBe(denials.length);
    expect(sec.audit).toMatchObject({ chainVerified: true, keyed: false, producers: 2 });
    expect(sec.audit.addresses.truncated).toBe(
      s.events.filter((e) => e.clientAddress !== undefined).length,
    );
  });

  it('says what the policy does not state, for the controller to complete', async () => {
    const bare = await processingReport(new MemorySource(s.events), { policy: s.policy });
    const fields = bare.toComplete.map((g) => g.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'controller',
        'purposes.marketing.dataSubjects',
        'purposes.marketing.retention',
        'clients.crm.recipient',
        'clients.legacy-app',
        'routes.GET /exports/orders',
        'activities.contract (no purpose named)',
        'security',
      ]),
    );
    expect(bare.controller).toEqual({});

    const full = await processingReport(new MemorySource(s.events), {
      policy: policyOf(COMPLETE_POLICY),
    });
    expect(full.controller).toEqual({
      name: 'Example Shop GmbH',
      contact: 'privacy@shop.example',
      dpo: 'dpo@shop.example',
    });
    const marketing = full.activities.find((a) => a.name === 'marketing')!;
    expect(marketing.dataSubjectCategories).toEqual(['customers', 'newsletter_subscribers']);
    expect(marketing.retentionSeconds).toBe(730 * 86_400);
    const byClient = Object.fromEntries(full.recipients.map((r) => [r.client, r]));
    expect(byClient['crm']).toMatchObject({
      category: 'CRM provider (processor)',
      country: 'US',
      thirdCountry: true,
    });
    expect(byClient['support-console']).toMatchObject({ country: 'DE', thirdCountry: false });
    // Norway is in the EEA.
    expect(byClient['batch']).toMatchObject({ country: 'NO', thirdCountry: false });
    const left = full.toComplete.map((g) => g.field);
    expect(left).not.toContain('controller');
    expect(left).not.toContain('controller.dpo');
    expect(left).not.toContain('purposes.marketing.retention');
    expect(left).not.toContain('clients.crm.recipient');
    expect(left).toContain('clients.crm.recipient.country');
    expect(full.toComplete.find((g) => g.field === 'clients.crm.recipient.country')!.hint).toMatch(
      /outside the EEA.*Art\. 46/,
    );
  });

  it('counts data subjects exactly up to maxDataSubjects, then as a lower bound', async () => {
    const report = await processingReport(new MemorySource(s.events), {
      policy: s.policy,
      maxDataSubjects: 3,
    });
    const marketing = report.activities.find((a) => a.name === 'marketing')!;
    expect(marketing.observed.dataSubjects).toBe(3);
    expect(marketing.observed.dataSubjectsExact).toBe(false);
    expect(formatReport(report, 'markdown')).toContain(
      '| marketing | consent | — | marketing_profile | crm | — | 21 | 3+ |',
    );
  });

  it('renders Markdown, text, CSV and a self-contained HTML page', async () => {
    const report: ProcessingReport = await processingReport(new MemorySource(s.events), {
      policy: s.policy,
      now: () => s.now,
    });
    const md = formatReport(report, 'markdown');
    expect(md).toContain('# Records of processing activities (GDPR Art. 30)');
    expect(md).toContain('## Purpose: marketing');
    expect(md).toContain('- **consent**: 1 given, 1 withdrawn, 0 lapsed');
    expect(md).toContain(
      '- **retention**: **[to complete: time limit for erasure (purposes.marketing.retention)]**',
    );
    expect(md).toContain('## Security measures (Art. 32)');
    expect(formatReport(report, 'text')).toContain(
      '  retention: [TO COMPLETE: time limit for erasure (purposes.marketing.retention)]',
    );
    const csv = formatReport(report, 'csv').trimEnd().split('\r\n');
    expect(csv[0]).toBe(
      'activity,purpose,lawfulBasis,inPolicy,dataSubjectCategories,dataCategories,recipients,retentionSeconds,accesses,allowed,denied,dataSubjects,firstUse,lastUse',
    );
    expect(csv).toHaveLength(1 + report.activities.length);
    const html = formatReport(report, 'html');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).toContain('<section id="purpose-marketing">');
    expect(html).toContain('<span class="to-fill">');
    // Nothing is loaded from elsewhere.
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
    expect(html).not.toMatch(/(src|href)=/i);
  });

  it('escapes what the trail says in HTML', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    const events = s.events.map((e) =>
      e.type === 'access.decision' && e.client === 'crm' ? { ...e, client: hostile } : e,
    );
    const report = await processingReport(new MemorySource(events), { policy: s.policy });
    const html = formatReport(report, 'html');
    expect(html).not.toContain(hostile);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('policy fields of the records of processing', () => {
  it('are validated, each finding at its line', () => {
    const bad = POLICY_TEXT.replace(
      'marketing: { description: Offers, lawfulBasis: consent }',
      'marketing: { description: Offers, lawfulBasis: consent, dataSubjects: [bad name], retention: 2 years }',
    )
      .replace('maxTokenLifetime: 10m }', 'maxTokenLifetime: 10m, recipient: { country: usa } }')
      .replace('audience: customers-api\n', 'audience: customers-api\ncontroller: { name: X }\n');
    const result = checkPolicy(bad);
    expect(result.policy).toBeUndefined();
    const paths = result.diagnostics.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'purposes.marketing.dataSubjects[0]',
        'purposes.marketing.retention',
        'clients.crm.recipient.category',
        'clients.crm.recipient.country',
        'controller.contact',
      ]),
    );
    expect(
      result.diagnostics.find((d) => d.path === 'clients.crm.recipient.country')!.message,
    ).toMatch(/ISO 3166-1 alpha-2/);
  });

  it('are optional, and resolved when given', () => {
    expect(policyOf(POLICY_TEXT).purposes['marketing']).toEqual({
      description: 'Offers',
      lawfulBasis: 'consent',
      dataSubjects: [],
    });
    const full = policyOf(COMPLETE_POLICY);
    expect(full.purposes['order_fulfilment']!.retentionMs).toBe(3650 * 86_400_000);
    expect(full.clients['batch']!.recipient).toEqual({
      category: 'fulfilment centre',
      country: 'NO',
    });
    expect(full.controller?.name).toBe('Example Shop GmbH');
  });
});
