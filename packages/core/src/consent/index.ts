import type { ConsentRecord } from '../store/types';

/**
 * Whether `value` names a notice as a consent record keeps it: `<id>@<version>`
 * (`privacy-notice@2026-03`: id of 1-128 `[A-Za-z0-9._:/-]`, version of 1-64 `[A-Za-z0-9._:+-]`)
 * or the SHA-256 of the notice's text as `sha256:<64 lowercase hex>`.
 */
export function isConsentNotice(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    (/^[A-Za-z0-9._:/-]{1,128}@[A-Za-z0-9._:+-]{1,64}$/.test(value) ||
      /^sha256:[0-9a-f]{64}$/.test(value))
  );
}

/** @throws TypeError unless `notice` is absent or {@link isConsentNotice}. @internal */
export function assertNotice(notice: string | undefined): void {
  if (notice !== undefined && !isConsentNotice(notice)) {
    throw new TypeError(
      "notice must be '<id>@<version>' (privacy-notice@2026-03) or 'sha256:<64 hex>' of its text",
    );
  }
}

/** Result of a consent check. */
export type ConsentVerdict = 'pass' | 'consent_missing' | 'consent_withdrawn' | 'consent_expired';

/**
 * Decides whether a token issued at `tokenIssuedAt` may process data under `record` at `now`
 * (epoch ms). Consent must be granted, not withdrawn since, not expired, and the token must be
 * issued after the last withdrawal, so re-granting consent never revives older tokens.
 */
export function evaluateConsent(
  record: ConsentRecord | undefined,
  tokenIssuedAt: number,
  now: number,
): ConsentVerdict {
  if (record === undefined) return 'consent_missing';
  const withdrawnAt = record.withdrawnAt;
  if (withdrawnAt !== undefined && record.grantedAt <= withdrawnAt) return 'consent_withdrawn';
  if (record.grantedAt <= 0) return 'consent_missing';
  if (record.expiresAt !== undefined && record.expiresAt <= now) return 'consent_expired';
  if (withdrawnAt !== undefined && tokenIssuedAt <= withdrawnAt) return 'consent_withdrawn';
  return 'pass';
}
