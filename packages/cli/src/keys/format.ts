import { activeKeyAt, type SigningKeyInfo } from '@tokenwarden/core/internal';

/** Where a key stands at `now`. */
export type KeyState = 'active' | 'next' | 'verify-only' | 'retired';

/** One row of `tokenwarden keys list`. */
export interface KeyRow {
  readonly kid: string;
  readonly alg: string;
  readonly state: KeyState;
  readonly createdAt: string;
  readonly activeFrom: string;
  readonly verifyUntil?: string;
  /** Age since the key started signing, in seconds (0 for a key not yet signing). */
  readonly ageSeconds: number;
}

/** The rows of `keys list`, oldest first. */
export function keyRows(keys: readonly SigningKeyInfo[], now: number): KeyRow[] {
  const active = activeKeyAt(keys, now);
  return [...keys]
    .sort((a, b) => a.activeFrom - b.activeFrom)
    .map((k) => {
      const state: KeyState =
        k === active
          ? 'active'
          : k.activeFrom > now
            ? 'next'
            : k.verifyUntil !== undefined && k.verifyUntil <= now
              ? 'retired'
              : 'verify-only';
      return {
        kid: k.kid,
        alg: k.alg,
        state,
        createdAt: new Date(k.createdAt).toISOString(),
        activeFrom: new Date(k.activeFrom).toISOString(),
        ...(k.verifyUntil !== undefined
          ? { verifyUntil: new Date(k.verifyUntil).toISOString() }
          : {}),
        ageSeconds: Math.max(0, Math.floor((now - k.activeFrom) / 1000)),
      };
    });
}

/** A plain-text table of the rows. */
export function keyTable(rows: readonly KeyRow[]): string {
  if (rows.length === 0)
    return 'no signing keys stored yet (a ring creates the first one when it starts)';
  const lines = [['KID', 'ALG', 'STATE', 'SIGNS FROM', 'VERIFIES UNTIL', 'AGE']];
  for (const r of rows) {
    lines.push([r.kid, r.alg, r.state, r.activeFrom, r.verifyUntil ?? '-', age(r.ageSeconds)]);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l) =>
      l
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function age(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)}d`;
  if (seconds >= 3_600) return `${Math.floor(seconds / 3_600)}h`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m`;
  return `${seconds}s`;
}
