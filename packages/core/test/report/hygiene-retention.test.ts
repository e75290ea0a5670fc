import { describe, expect, it } from '@jest/globals';
import { formatReport, hygieneReport, MemorySource } from '@tokenwarden/core/reports';
import { DAY, scenario } from './generate';

describe('hygieneReport: retention of Tokenwarden records', () => {
  const s = scenario();
  const retention = {
    auditMs: 400 * DAY,
    spoolMs: 7 * DAY,
    consentAfterWithdrawalMs: 1095 * DAY,
    revocationMarksMs: 0,
  };

  it('prints every declared retention, and what applies it', async () => {
    const report = await hygieneReport(new MemorySource(s.events), {
      policy: { ...s.policy, retention },
      now: () => s.now,
    });
    expect(report.retention?.map((r) => [r.key, r.declared, r.ms])).toEqual([
      ['audit', '400d', 400 * DAY],
      ['spool', '7d', 7 * DAY],
      ['consentAfterWithdrawal', '1095d', 1095 * DAY],
      ['revocationMarks', '0s', 0],
    ]);
    expect(report.findings.filter((f) => f.kind.includes('retention'))).toEqual([]);
    const text = formatReport(report, 'text');
    expect(text).toMatch(/audit: 400d/);
    expect(text).toMatch(/consentAfterWithdrawal: 1095d/);
    expect(text).toContain('retentionFromPolicy');
    expect(JSON.parse(formatReport(report, 'json')).retention).toHaveLength(4);
  });

  it('names each retention the policy leaves undeclared, and has no table without a policy', async () => {
    const partial = await hygieneReport(undefined, {
      policy: { ...s.policy, retention: { auditMs: 400 * DAY } },
      now: () => s.now,
    });
    expect(
      partial.findings.filter((f) => f.kind === 'retention_not_declared').map((f) => f.target),
    ).toEqual(['retention.consentAfterWithdrawal', 'retention.revocationMarks', 'retention.spool']);
    expect(partial.retention?.find((r) => r.key === 'spool')?.declared).toBe('not declared');
    const none = await hygieneReport(undefined, { now: () => s.now });
    expect(none.retention).toBeNull();
    expect(formatReport(none, 'text')).not.toContain('applied by');
  });

  it('reports a trail that holds events older than its declared retention', async () => {
    const first = Math.min(...s.events.map((e) => Date.parse(e.time)));
    const days = Math.floor((s.now - first) / DAY);
    const short = await hygieneReport(new MemorySource(s.events), {
      policy: { ...s.policy, retention: { ...retention, auditMs: (days - 2) * DAY } },
      now: () => s.now,
    });
    expect(short.findings).toContainEqual(
      expect.objectContaining({
        kind: 'audit_kept_past_retention',
        severity: 'medium',
        target: 'retention.audit',
      }),
    );
    const enough = await hygieneReport(new MemorySource(s.events), {
      policy: { ...s.policy, retention: { ...retention, auditMs: (days + 1) * DAY } },
      now: () => s.now,
    });
    expect(enough.findings.map((f) => f.kind)).not.toContain('audit_kept_past_retention');
  });
});
