/**
 * RFC 6749 §3.3 `scope-token`: one or more printable ASCII characters except space, `"` and `\`
 * (`%x21 / %x23-5B / %x5D-7E`).
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** RFC 6749 §3.3 `scope` parameter: scope-tokens separated by spaces (empty allowed). */
const SCOPE_PARAMETER = /^[\x21\x23-\x5b\x5d-\x7e ]*$/;

/** True when `value` is one {@link SCOPE_TOKEN}: a scope name a token may carry. */
export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}

/**
 * True when `text` holds only what a space-separated `scope` parameter may (scope-token
 * characters and spaces); split it on spaces to get the scope-tokens.
 */
export function isScopeParameter(text: string): boolean {
  return SCOPE_PARAMETER.test(text);
}
