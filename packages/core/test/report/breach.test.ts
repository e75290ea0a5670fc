import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '@tokenwarden/core/internal';
import {
  breachReport,
  breachSelector,
  formatReport,
  MemorySource,
} from '@tokenwarden/core/reports';
import {
  DAY,
  HOUR,
  ROUTES,
  ROUTE_SCOPES,
  scenario,
  SEC,
  T0,
  testPolicy,
  TrailBuilder,
} from './generate';

const iso = (ms: number) => new Date(ms).toISOString();

/** Per data subject, what the leaked token's allowed uses from `from` on reached. */
function subjectsTruth(events: readonly AuditEvent[], tokenId: string, from: number) {
  const out = new Map<
    string,
    { categories: Set<string>; accesses: number; first: number; last: number }
  >();
  for (const e of events) {
    const at = Date.parse(e.time);
    if (e.type !== 'access.decision' || e.tokenId !== tokenId || e.outcome !== 'allow') continue;
    if (at < from || e.dataSubject === undefined) continue;
    const s = out.get(e.dataSubject) ?? {
      categories: new Set<string>(),
      accesses: 0,
      first: at,
      last: at,
    };
    out.set(e.dataSubject, s);
    for (const c of ROUTES[`${e.method} ${e.route}`]!.categories) s.categories.add(c);
    s.accesses += 1;
    s.first = Math.min(s.first, at);
    s.last = Math.max(s.last, at);
  }
  return out;
}

describe('breachReport (Art. 33 and 34)', () => {
  const s = scenario();
  const truth = s.builder.uses.get('tok-leak')!;
  const detectedAt = s.leakedAt + HOUR;

  it('gives the nature, the people and records concerned, the time line and the deadline', async () => {
    const report = await breachReport(new MemorySource(s.events), breachSelector('tok-leak'), {
      policy: s.policy,
      leakedAt: s.leakedAt,
      detectedAt,
      now: () => detectedAt + 10 * HOUR,
    });
    expect(report.kind).toBe('breach');
    expect(report.credential).toEqual({ kind: 'token', id: 'tok-leak' });
    expect(report.window).toEqual({ basis: 'suspected_leak', from: iso(s.leakedAt) });
    // Every use of the leaked token is a GET.
    expect(report.nature).toMatchObject({
      confidentiality: true,
      integrity: false,
      reads: truth.allowedAfterLeak,
      changes: 0,
    });
    const people = new Set([...truth.subjectsAfterLeakByCategory.values()].flatMap((x) => [...x]));
    expect(report.concerned).toEqual({
      dataCategories: [...truth.subjectsAfterLeakByCategory.keys()].sort(),
      dataSubjects: people.size,
      approximate: false,
      records: truth.allowedAfterLeak,
      recordsWithoutDataSubject: 0,
    });
    expect(report.nature.summary).toContain(
      `${truth.allowedAfterLeak} allowed read(s), ${truth.allowedAfterLeak} of them on personal data of ${people.size} data subject(s)`,
    );

    expect(report.timeline).toEqual({
      issuedAt: iso(T0 + HOUR),
      expiresAt: iso(T0 + HOUR + 600 * SEC),
      suspectedLeakAt: iso(s.leakedAt),
      firstUse: iso(truth.first!),
      lastUse: iso(truth.last!),
      firstUseInWindow: iso(truth.firstAfterLeak!),
      lastUseInWindow: iso(truth.last!),
      detectedAt: iso(detectedAt),
      revokedAt: iso(s.revokedAt),
      notifyAuthorityBy: iso(detectedAt + 72 * HOUR),
      hoursLeft: 62,
      overdue: false,
    });
    expect(report.measures).toEqual([
      {
        time: iso(s.revokedAt),
        type: 'token.revoked',
        description: 'the token was revoked: every node refuses it',
        actor: 'incident-response',
        reason: 'leaked',
      },
    ]);
    expect(report.warnings).toEqual([]);

    // The people to notify, each with what of theirs was reached.
    const expected = subjectsTruth(s.events, 'tok-leak', s.leakedAt);
    expect(report.subjects).toEqual(
      [...expected.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([dataSubject, x]) => ({
          dataSubject,
          dataCategories: [...x.categories].sort(),
          accesses: x.accesses,
          firstAccess: iso(x.first),
          lastAccess: iso(x.last),
        })),
    );
    expect(report.subjectsTruncated).toBe(false);
    // It builds on the exposure report.
    expect(report.didReach.usesAfterLeak).toBe(truth.usesAfterLeak);
    expect(report.couldReach.scopes).toEqual(['customers:read', 'marketing:read']);
  });

  it('marks what only the controller can fill, and the delay once the deadline has passed', async () => {
    const onTime = await breachReport(new MemorySource(s.events), breachSelector('tok-leak'), {
      policy: s.policy,
      detectedAt,
      now: () => detectedAt,
    });
    expect(onTime.toComplete.map((g) => `${g.field} ${g.article}`)).toEqual([
      'controller Art. 33(3)(b)',
      'dpo Art. 33(3)(b)',
      'circumstances Art. 33(3)(a)',
      'consequences Art. 33(3)(c)',
      'further measures Art. 33(3)(d)',
      'communication to data subjects Art. 34',
    ]);
    const late = await breachReport(new MemorySource(s.events), breachSelector('tok-leak'), {
      policy: s.policy,
      detectedAt,
      now: () => detectedAt + 80 * HOUR,
    });
    expect(late.timeline.overdue).toBe(true);
    expect(late.timeline.hoursLeft).toBe(-8);
    expect(late.toComplete.map((g) => g.field)).toContain('reasons for delay');
    expect(formatReport(late, 'markdown')).toContain(
      '- **time left**: OVERDUE by 8 hours: give the reasons for the delay',
    );
  });

  it('without a leak time, counts every use of the period; a fingerprint finds the same token', async () => {
    const byId = await breachReport(new MemorySource(s.events), breachSelector('tok-leak'), {
      policy: s.policy,
      detectedAt,
    });
    expect(byId.window).toEqual({ basis: 'period' });
    expect(byId.nature.reads).toBe(truth.allowed);
    expect(byId.concerned.dataSubjects).toBe(
      new Set([...truth.subjectsByCategory.values()].flatMap((x) => [...x])).size,
    );
    expect(byId.subjects).toHaveLength(byId.concerned.dataSubjects);
    const byFingerprint = await breachReport(
      new MemorySource(s.events),
      breachSelector('fp-tok-leak'),
      { policy: s.policy, detectedAt },
    );
    expect(byFingerprint.concerned).toEqual(byId.concerned);
    expect(byFingerprint.subjects).toEqual(byId.subjects);
    expect(breachSelector('ak_123')).toEqual({ apiKeyId: 'ak_123' });
    expect(breachSelector('jti-1')).toEqual({ tokenId: 'jti-1' });
  });

  it('an API key: changes, records without a data subject, rotation and revocation as measures', async () => {
    const b = new TrailBuilder(ROUTE_SCOPES);
    b.event(T0, {
      type: 'apikey.created',
      outcome: 'success',
      tokenId: 'ak_sup',
      subject: 'support-console',
      client: 'support-console',
      scopes: ['customers:read', 'customers:write', 'orders:read'],
      detail: { expiresAt: T0 + 30 * DAY },
    });
    const base = {
      tokenId: 'ak_sup',
      client: 'support-console',
      subject: 'support-console',
      scopes: ['customers:read', 'customers:write', 'orders:read'],
    };
    b.use({ ...base, at: T0 + HOUR, route: 'GET /customers/:id', dataSubject: 'c-1' });
    b.use({ ...base, at: T0 + 2 * HOUR, route: 'PUT /customers/:id', dataSubject: 'c-1' });
    b.use({ ...base, at: T0 + 3 * HOUR, route: 'PUT /customers/:id', dataSubject: 'c-2' });
    b.use({ ...base, at: T0 + 4 * HOUR, route: 'GET /exports/orders' });
    b.event(T0 + 5 * HOUR, {
      type: 'apikey.rotated',
      outcome: 'success',
      tokenId: 'ak_sup2',
      client: 'support-console',
      actor: 'ops',
      detail: { previousKeyId: 'ak_sup', reason: 'leaked' },
    });
    b.event(T0 + 6 * HOUR, {
      type: 'apikey.revoked',
      outcome: 'success',
      tokenId: 'ak_sup',
      client: 'support-console',
      actor: 'ops',
      detail: { reason: 'leaked' },
    });
    const events = b.build();
    const report = await breachReport(new MemorySource(events), breachSelector('ak_sup'), {
      policy: testPolicy(),
      detectedAt: T0 + 5 * HOUR,
      now: () => T0 + 7 * HOUR,
    });
    expect(report.credential).toEqual({ kind: 'api_key', id: 'ak_sup' });
    expect(report.nature).toMatchObject({
      confidentiality: true,
      integrity: true,
      reads: 2,
      changes: 2,
    });
    expect(report.concerned).toEqual({
      dataCategories: ['contact_details', 'purchase_history'],
      dataSubjects: 2,
      approximate: true,
      records: 4,
      recordsWithoutDataSubject: 1,
    });
    expect(report.warnings).toEqual([
      expect.stringMatching(/1 allowed request\(s\) reached personal data without naming/),
    ]);
    expect(report.measures.map((m) => [m.type, m.actor])).toEqual([
      ['apikey.rotated', 'ops'],
      ['apikey.revoked', 'ops'],
    ]);
    expect(report.measures[0]!.description).toContain('replaced by ak_sup2');
    expect(report.subjects.map((x) => [x.dataSubject, x.accesses])).toEqual([
      ['c-1', 2],
      ['c-2', 1],
    ]);
  });

  it('warns when the credential is not revoked, and lists at most maxSubjectsListed people', async () => {
    const report = await breachReport(new MemorySource(s.events), breachSelector('tok-crm-3'), {
      policy: s.policy,
      maxSubjectsListed: 4,
    });
    expect(report.warnings[0]).toMatch(/not revoked/);
    expect(report.concerned.dataSubjects).toBe(10);
    expect(report.subjects).toHaveLength(4);
    expect(report.subjectsTruncated).toBe(true);
    expect(formatReport(report, 'markdown')).toContain(
      '10 data subject(s), the first 4 listed; the CSV format lists them',
    );
  });

  it('renders the subjects to notify as CSV, and Markdown, text and HTML with every section', async () => {
    const report = await breachReport(new MemorySource(s.events), breachSelector('tok-leak'), {
      policy: s.policy,
      leakedAt: s.leakedAt,
      detectedAt,
      now: () => detectedAt,
    });
    const csv = formatReport(report, 'csv').trimEnd().split('\r\n');
    expect(csv[0]).toBe('dataSubject,dataCategories,accesses,firstAccess,lastAccess');
    expect(csv).toHaveLength(1 + report.concerned.dataSubjects);
    expect(csv).toContain(
      `cust-11,marketing_profile,2,${report.subjects.find((x) => x.dataSubject === 'cust-11')!.firstAccess},${report.subjects.find((x) => x.dataSubject === 'cust-11')!.lastAccess}`,
    );
    const md = formatReport(report, 'markdown');
    for (const heading of [
      '# Personal data breach (GDPR Art. 33 and 34): token tok-leak',
      '## Notification deadline',
      '## Nature of the breach',
      '## Data subjects and records concerned',
      '## Time line',
      '## Measures taken',
      '## To be completed by the controller',
      '## Data subjects to notify',
    ]) {
      expect(md).toContain(heading);
    }
    expect(md).toContain(
      '- **consequences (Art. 33(3)(c))**: **[to complete: the likely consequences of the breach for the data subjects]**',
    );
    expect(formatReport(report, 'text')).toContain('Notification deadline:\n');
    const html = formatReport(report, 'html');
    expect(html).toContain('<section id="notification-deadline">');
    expect(html).toContain('<section id="data-subjects-to-notify">');
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
  });
});
