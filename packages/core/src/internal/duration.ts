import { ConfigError } from '../errors';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A policy duration (`'15m'`, `'500ms'`, or a number of seconds) in ms. */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!match) throw new ConfigError(`'${value}' is not a duration like 15m`);
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}
