import { CliError } from '../shared';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a point in time for `--since`, `--until`, `--before` and the other time options: an
 * ISO 8601 date or date-time, epoch milliseconds, `now`, or a duration (`30m`, `24h`, `7d`)
 * back from now (or ahead of now, with `direction` `ahead`).
 * @throws CliError naming the option, with exit code 2.
 */
export function parsePointInTime(
  value: string,
  option: string,
  now: number,
  direction: 'back' | 'ahead' = 'back',
): number {
  if (value === 'now') return now;
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const span = Number(relative[1]) * UNITS[relative[2]!]!;
    return direction === 'ahead' ? now + span : now - span;
  }
  if (/^\d{10,16}$/.test(value)) return Number(value);
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
    ? Date.parse(value)
    : NaN;
  if (!Number.isFinite(ms)) {
    throw new CliError(
      `${option} must be an ISO 8601 time (2030-01-31T12:00:00Z), epoch ms, now, or a duration ${direction === 'ahead' ? 'from now' : 'back from now'} (30m, 24h, 7d)`,
      2,
    );
  }
  return ms;
}
