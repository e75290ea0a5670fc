import { formatRetention } from '../policy/retention';
import type { PolicyRetention } from '../policy/types';
import type { ReportPeriod } from './types';

const DAY = 86_400_000;

/** One of the policy's `retention:` durations, as the hygiene report prints it. */
export interface RetentionRow {
  /** Its key under `retention:`. */
  readonly key: 'audit' | 'spool' | 'consentAfterWithdrawal' | 'revocationMarks';
  /** What is kept. */
  readonly record: string;
  /** The declared duration (`400d`), or `not declared`. */
  readonly declared: string;
  /** The declared duration in ms; null when not declared. */
  readonly ms: number | null;
  /** What applies it, and what happens when it is not declared. */
  readonly appliedBy: string;
}

/** The retentions a policy can declare, what keeps them and what applies them. */
const RETENTIONS: readonly {
  readonly key: RetentionRow['key'];
  readonly field: keyof PolicyRetention;
  readonly record: string;
  readonly appliedBy: string;
}[] = [
  {
    key: 'audit',
    field: 'auditMs',
    record: 'audit trail',
    appliedBy:
      "the sinks' retentionMs (RedisStreamSink trims, JsonLinesSink deletes rotated files), from retentionFromPolicy; undeclared: the sink's default",
  },
  {
    key: 'spool',
    field: 'spoolMs',
    record: 'audit spool',
    appliedBy: 'spoolMaxAgeMs from retentionFromPolicy; undeclared: kept until delivered',
  },
  {
    key: 'consentAfterWithdrawal',
    field: 'consentAfterWithdrawalMs',
    record: 'consent record after withdrawal',
    appliedBy:
      "the warden's retention.consentAfterWithdrawalMs (wardenOptionsFromPolicy), tokenwarden consent withdraw --policy; undeclared: the store's default, 3 years",
  },
  {
    key: 'revocationMarks',
    field: 'revocationMarksMs',
    record: 'revocation marks, past their last token',
    appliedBy:
      "the warden's retention.revocationMarksMs; undeclared: 0, dropped with their last token",
  },
];

/** A finding of the retention checks (a `HygieneFinding`). */
interface RetentionFinding {
  readonly kind: 'retention_not_declared' | 'audit_kept_past_retention';
  readonly severity: 'medium' | 'low';
  readonly target: string;
  readonly message: string;
  readonly figures: Readonly<Record<string, string | number>>;
}

/**
 * What the hygiene report says about retention: each duration the policy leaves undeclared, and
 * a trail that holds events older than its declared retention (its sinks do not apply it).
 */
export function retentionFindings(
  rows: readonly RetentionRow[] | null,
  declared: PolicyRetention | undefined,
  period: ReportPeriod,
  now: number,
): RetentionFinding[] {
  const out: RetentionFinding[] = [];
  for (const row of rows ?? []) {
    if (row.ms !== null) continue;
    out.push({
      kind: 'retention_not_declared',
      severity: 'low',
      target: `retention.${row.key}`,
      message: `the policy declares no retention for the ${row.record}: declare it under retention.${row.key} (now: ${row.appliedBy.slice(row.appliedBy.lastIndexOf('undeclared: ') + 12)})`,
      figures: { record: row.record },
    });
  }
  const auditMs = declared?.auditMs;
  const first = period.firstEvent === undefined ? NaN : Date.parse(period.firstEvent);
  if (auditMs !== undefined && period.since === undefined && first < now - auditMs - DAY) {
    out.push({
      kind: 'audit_kept_past_retention',
      severity: 'medium',
      target: 'retention.audit',
      message: `the trail holds events from ${period.firstEvent}, older than the declared retention of ${formatRetention(auditMs)}: give the sinks retentionMs from retentionFromPolicy`,
      figures: {
        firstEvent: period.firstEvent as string,
        retentionDays: Math.floor(auditMs / DAY),
      },
    });
  }
  return out;
}

/** The rows of the retention table, declared or not. */
export function retentionRows(declared: PolicyRetention | undefined): RetentionRow[] {
  return RETENTIONS.map(({ key, field, record, appliedBy }) => {
    const ms = declared?.[field];
    return {
      key,
      record,
      declared: ms === undefined ? 'not declared' : formatRetention(ms),
      ms: ms ?? null,
      appliedBy,
    };
  });
}
