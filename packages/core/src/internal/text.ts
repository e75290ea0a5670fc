import { timingSafeEqual } from 'node:crypto';

/** True when the string holds a C0 control character or DEL (NUL included). */
export function hasControlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A non-empty string of at most `max` characters without control characters. */
export function isSafeId(value: unknown, max: number): value is string {
  return (
    typeof value === 'string' && value.length > 0 && value.length <= max && !hasControlChar(value)
  );
}

/** Whether two strings are equal, compared in time independent of where they differ. */
export function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
