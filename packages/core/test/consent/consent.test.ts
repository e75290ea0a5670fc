import { describe, expect, it } from '@jest/globals';
import { evaluateConsent, type ConsentRecord } from '@tokenwarden/core';

const T = Date.UTC(2030, 0, 1, 12, 0, 0);
const SECOND = 1000;
const DAY = 86_400_000;

function record(fields: Partial<ConsentRecord> = {}): ConsentRecord {
  return { subject: 'alice', purpose: 'marketing', grantedAt: T, ...fields };
}

describe('evaluateConsent', () => {
  it('is consent_missing without a record', () => {
    expect(evaluateConsent(undefined, T, T)).toBe('consent_missing');
  });

  it('passes a standing grant, for tokens issued before or after it', () => {
    expect(evaluateConsent(record(), T + SECOND, T + 2 * SECOND)).toBe('pass');
    expect(evaluateConsent(record(), T - DAY, T + 2 * SECOND)).toBe('pass');
  });

  it('passes until expiresAt and is consent_expired from then on', () => {
    const expiring = record({ expiresAt: T + DAY });
    expect(evaluateConsent(expiring, T, T + DAY - 1)).toBe('pass');
    expect(evaluateConsent(expiring, T, T + DAY)).toBe('consent_expired');
    expect(evaluateConsent(expiring, T, T + 2 * DAY)).toBe('consent_expired');
  });

  it('is consent_withdrawn after a withdrawal, for old and new tokens alike', () => {
    const withdrawn = record({ withdrawnAt: T + DAY });
    expect(evaluateConsent(withdrawn, T + SECOND, T + 2 * DAY)).toBe('consent_withdrawn');
    expect(evaluateConsent(withdrawn, T + 2 * DAY, T + 2 * DAY)).toBe('consent_withdrawn');
  });

  it('counts a grant in the same millisecond as the withdrawal as withdrawn', () => {
    expect(evaluateConsent(record({ withdrawnAt: T }), T + DAY, T + DAY)).toBe('consent_withdrawn');
  });

  it('is consent_withdrawn for a withdrawal that was never preceded by a grant', () => {
    expect(evaluateConsent(record({ grantedAt: 0, withdrawnAt: T }), T + DAY, T + DAY)).toBe(
      'consent_withdrawn',
    );
  });

  it('is consent_missing for a record with no grant time', () => {
    expect(evaluateConsent(record({ grantedAt: 0 }), T, T)).toBe('consent_missing');
  });

  describe('withdrawn, then granted again', () => {
    const withdrawnAt = T + DAY + 500;
    const regranted = record({ grantedAt: T + DAY + 10 * SECOND, withdrawnAt });
    const now = T + 2 * DAY;

    it('refuses a token issued before the withdrawal', () => {
      expect(evaluateConsent(regranted, T + SECOND, now)).toBe('consent_withdrawn');
    });

    it('refuses a token issued in the same second as the withdrawal (iat has whole seconds)', () => {
      expect(evaluateConsent(regranted, T + DAY, now)).toBe('consent_withdrawn');
    });

    it('allows a token issued after the withdrawal', () => {
      expect(evaluateConsent(regranted, T + DAY + SECOND, now)).toBe('pass');
      expect(evaluateConsent(regranted, T + DAY + 20 * SECOND, now)).toBe('pass');
    });

    it('still honours the new grant expiry', () => {
      const expiring = { ...regranted, expiresAt: T + DAY + 60 * SECOND };
      expect(evaluateConsent(expiring, T + DAY + 20 * SECOND, now)).toBe('consent_expired');
    });
  });
});
