import { durationMs } from '../internal/duration';
import type { PolicyReporter } from './lint';
import type { PolicyDocument } from './schema';
import type { Policy, PolicyRetention } from './types';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;

/**
 * The bounds `policy check` holds each retention to: below `min` or above `max` is an error
 * (a unit mistake, or a record kept too short to do its job); `warnAbove` is a warning
 * (storage limitation, Art. 5(1)(e) GDPR: keep personal data no longer than needed).
 */
const BOUNDS = {
  audit: { min: DAY, warnAbove: 2 * YEAR, max: 10 * YEAR },
  spool: { min: HOUR, warnAbove: 30 * DAY, max: 90 * DAY },
  consentAfterWithdrawal: { min: 0, warnAbove: 6 * YEAR, max: 10 * YEAR },
  revocationMarks: { min: 0, warnAbove: 90 * DAY, max: YEAR },
} as const;

/** The `retention:` block in ms, when the policy has one. */
export function resolveRetention(raw: PolicyDocument): PolicyRetention | undefined {
  const r = raw.retention;
  if (r === undefined) return undefined;
  return {
    ...(r.audit !== undefined ? { auditMs: durationMs(r.audit) } : {}),
    ...(r.spool !== undefined ? { spoolMs: durationMs(r.spool) } : {}),
    ...(r.consentAfterWithdrawal !== undefined
      ? { consentAfterWithdrawalMs: durationMs(r.consentAfterWithdrawal) }
      : {}),
    ...(r.revocationMarks !== undefined
      ? { revocationMarksMs: durationMs(r.revocationMarks) }
      : {}),
  };
}

/** A duration for a message: the largest whole unit. */
export function formatRetention(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * The checks of the `retention:` block: each duration within sane bounds, a consent record kept
 * after withdrawal at least as long as any credential issued before it can live (else a re-grant
 * after the record is deleted would let those credentials through again), a spool that does not
 * outlive the trail it feeds.
 */
export function lintRetention(raw: PolicyDocument, policy: Policy, at: PolicyReporter): void {
  const r = policy.retention;
  if (raw.retention === undefined || r === undefined) return;
  const check = (name: keyof typeof BOUNDS, ms: number | undefined, why: string) => {
    if (ms === undefined) return;
    const { min, max, warnAbove } = BOUNDS[name];
    const path = ['retention', name];
    if (ms < min) {
      at(
        path,
        'error',
        `${formatRetention(ms)} is too short: ${why}; raise it to at least ${formatRetention(min)}`,
      );
    } else if (ms > max) {
      at(
        path,
        'error',
        `${formatRetention(ms)} is above ${formatRetention(max)}; check the unit (d is days)`,
      );
    } else if (ms > warnAbove) {
      at(
        path,
        'warning',
        `${formatRetention(ms)} keeps personal data longer than ${formatRetention(warnAbove)}; write down why (storage limitation) or shorten it`,
      );
    }
  };
  check('audit', r.auditMs, 'an incident is often found days after it happened');
  check('spool', r.spoolMs, 'a sink down over a weekend night must not lose its events');
  check('consentAfterWithdrawal', r.consentAfterWithdrawalMs, 'see the lifetime rule');
  check('revocationMarks', r.revocationMarksMs, '');

  const consent = r.consentAfterWithdrawalMs;
  if (consent !== undefined && consent <= BOUNDS.consentAfterWithdrawal.max) {
    const longest = Math.max(
      policy.limits.maxTokenLifetimeMs,
      policy.limits.maxApiKeyAgeMs,
      policy.limits.refreshFamilyLifetimeMs,
      ...Object.values(policy.clients).map((c) => Math.max(c.maxTokenLifetimeMs, c.apiKeyMaxAgeMs)),
    );
    if (consent < longest) {
      at(
        ['retention', 'consentAfterWithdrawal'],
        'error',
        `${formatRetention(consent)} is shorter than the longest credential (${formatRetention(longest)}, from limits and clients): once a withdrawn record is deleted, a re-grant would let credentials issued before the withdrawal through again; raise it to at least ${formatRetention(longest)}`,
      );
    }
  }
  if (r.spoolMs !== undefined && r.auditMs !== undefined && r.spoolMs > r.auditMs) {
    at(
      ['retention', 'spool'],
      'warning',
      `the spool keeps events (${formatRetention(r.spoolMs)}) longer than the trail itself (${formatRetention(r.auditMs)}); lower it to at most ${formatRetention(r.auditMs)}`,
    );
  }
}
