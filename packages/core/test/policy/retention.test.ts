import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createWarden, MemoryStore } from '@tokenwarden/core';
import {
  checkPolicy,
  retentionFromPolicy,
  wardenOptionsFromPolicy,
  type PolicyDiagnostic,
} from '@tokenwarden/core/policy';
import { testJwtOptions } from '@tokenwarden/testing';

const DAY = 86_400_000;
const BASE = readFileSync(join(__dirname, 'fixtures', 'valid.policy.yaml'), 'utf8');

/** The valid policy with a `retention:` block appended. */
function withRetention(block: string): string {
  return `${BASE.trimEnd()}\nretention:\n${block
    .trim()
    .split('\n')
    .map((line) => `  ${line.trim()}`)
    .join('\n')}\n`;
}

const findings = (text: string) =>
  checkPolicy(text).diagnostics.map((d: PolicyDiagnostic) => ({
    severity: d.severity,
    path: d.path,
    message: d.message,
  }));

describe('retention: in the policy file', () => {
  it('resolves each duration to ms, and a policy without the block has none', () => {
    const result = checkPolicy(
      withRetention(`
        audit: 400d
        spool: 7d
        consentAfterWithdrawal: 1095d
        revocationMarks: 0s
      `),
    );
    expect(result.diagnostics).toEqual([]);
    expect(result.policy?.retention).toEqual({
      auditMs: 400 * DAY,
      spoolMs: 7 * DAY,
      consentAfterWithdrawalMs: 1095 * DAY,
      revocationMarksMs: 0,
    });
    expect(checkPolicy(BASE).policy?.retention).toBeUndefined();
  });

  it('names an unknown key and its line', () => {
    const text = withRetention('auditTrail: 30d');
    const diagnostics = checkPolicy(text).diagnostics;
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      severity: 'error',
      path: 'retention.auditTrail',
      line: text.split('\n').findIndex((l) => l.includes('auditTrail')) + 1,
    });
  });

  it('refuses durations out of bounds, saying what to change', () => {
    expect(
      findings(
        withRetention(`
          audit: 2h
          spool: 10m
          consentAfterWithdrawal: 3650d
          revocationMarks: 400d
        `),
      ),
    ).toEqual(
      expect.arrayContaining([
        {
          severity: 'error',
          path: 'retention.audit',
          message: expect.stringMatching(/^2h is too short: .*raise it to at least 1d$/),
        },
        {
          severity: 'error',
          path: 'retention.spool',
          message: expect.stringContaining('raise it to at least 1h'),
        },
        {
          severity: 'error',
          path: 'retention.revocationMarks',
          message: '400d is above 365d; check the unit (d is days)',
        },
      ]),
    );
  });

  it('warns when a record is kept longer than storage limitation suggests', () => {
    expect(findings(withRetention('audit: 1000d'))).toEqual([
      {
        severity: 'warning',
        path: 'retention.audit',
        message: expect.stringContaining('storage limitation'),
      },
    ]);
  });

  it('refuses a consent retention shorter than the longest credential', () => {
    // maxApiKeyAge is 90d in the fixture: a record deleted sooner would let a re-grant revive
    // API keys created before the withdrawal.
    expect(findings(withRetention('consentAfterWithdrawal: 30d'))).toEqual([
      {
        severity: 'error',
        path: 'retention.consentAfterWithdrawal',
        message: expect.stringContaining('raise it to at least 90d'),
      },
    ]);
    expect(findings(withRetention('consentAfterWithdrawal: 90d'))).toEqual([]);
  });

  it('warns when the spool outlives the trail it feeds', () => {
    expect(findings(withRetention('audit: 20d\nspool: 30d'))).toEqual([
      {
        severity: 'warning',
        path: 'retention.spool',
        message: expect.stringContaining('lower it to at most 20d'),
      },
    ]);
  });

  it('applies consent and revocation-mark retention to a warden built from the policy', async () => {
    const policy = checkPolicy(
      withRetention('consentAfterWithdrawal: 100d\nrevocationMarks: 2d\naudit: 30d\nspool: 1d'),
    ).policy!;
    const options = wardenOptionsFromPolicy(policy, { keys: testJwtOptions().keys });
    expect(options.retention).toEqual({
      consentAfterWithdrawalMs: 100 * DAY,
      revocationMarksMs: 2 * DAY,
    });
    expect(
      wardenOptionsFromPolicy(policy, { keys: testJwtOptions().keys, retention: {} }).retention,
    ).toEqual({});
    // The spool's max age goes to the audit options, next to what the caller gave.
    expect(options.audit).toEqual({ spoolMaxAgeMs: DAY });
    const given = wardenOptionsFromPolicy(policy, {
      keys: testJwtOptions().keys,
      audit: { producer: 'api-1' },
    });
    expect(given.audit).toEqual({ producer: 'api-1', spoolMaxAgeMs: DAY });
    expect(
      wardenOptionsFromPolicy(policy, { keys: testJwtOptions().keys, audit: false }).audit,
    ).toBe(false);
    expect(retentionFromPolicy(policy)).toEqual({
      auditMs: 30 * DAY,
      spoolMaxAgeMs: DAY,
      consentRetentionMs: 100 * DAY,
      admin: { consentAfterWithdrawalMs: 100 * DAY, revocationMarksMs: 2 * DAY },
    });
    expect(retentionFromPolicy(checkPolicy(BASE).policy!)).toEqual({});

    const store = new MemoryStore();
    // The policy's parts a test warden can take (its keys are the test's own).
    const warden = createWarden({
      jwt: testJwtOptions(),
      purposes: options.purposes,
      retention: options.retention,
      store,
      audit: false,
    });
    const before = Date.now();
    const record = await warden.withdrawConsent({ subject: 'user-1', purpose: 'marketing' });
    expect(record.keepUntil).toBeGreaterThanOrEqual(before + 100 * DAY);
    expect(record.keepUntil).toBeLessThanOrEqual(Date.now() + 100 * DAY);
    await warden.close();
    await store.close();
  });
});
