/**
 * The characters no audit record shows raw: C0 controls, DEL, C1 controls, the line and
 * paragraph separators U+2028/U+2029, and the bidirectional controls (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069). A terminal, spreadsheet or log viewer may act on them: move the
 * cursor, end a line, or reorder what is shown, so a subject or user agent could forge or hide an
 * entry.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');
/** In JSON text a tab, line feed or carriage return outside a string is whitespace: kept. */
const UNSAFE_IN_JSON =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** How {@link escapeUnsafe} writes an escaped character. */
export type EscapeStyle = 'text' | 'json';

/**
 * Escapes every character a reader of the audit trail must never see raw (see above), and only
 * those; the one escaping of Tokenwarden's records, on write and on print.
 *
 * - `'text'` (what people read: `audit tail`, CSV, text reports): `\u{85}`, the code point in
 *   lower-case hex, as JavaScript writes it.
 * - `'json'` (a JSON text, e.g. one stored line): `\u0085`, a JSON escape, so the line still
 *   parses to the same value and the hash chain is unchanged; only the stored bytes differ.
 *   Tab, line feed and carriage return are left alone there, as `JSON.stringify` already
 *   escapes them inside strings and elsewhere they are whitespace.
 *
 * @example
 * escapeUnsafe('ann\u0085\u2028x', 'text'); // 'ann\\u{85}\\u{2028}x'
 */
export function escapeUnsafe(value: string, style: EscapeStyle): string {
  if (!UNSAFE.test(value)) return value;
  if (style === 'json') {
    return value.replace(
      UNSAFE_IN_JSON,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  return value.replace(UNSAFE_ALL, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** {@link escapeUnsafe} for text people read: `\u{85}`. */
export function escapeText(value: string): string {
  return escapeUnsafe(value, 'text');
}

/** {@link escapeUnsafe} for a JSON text: `\u0085`; the text parses to the same value. */
export function escapeJsonText(json: string): string {
  return escapeUnsafe(json, 'json');
}

/** Whether the string holds a character {@link escapeUnsafe} would escape. */
export function hasUnsafeChar(value: string): boolean {
  return UNSAFE.test(value);
}
