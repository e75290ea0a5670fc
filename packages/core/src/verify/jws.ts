/**
 * Compact JWS reading for `verifyJwt`: the `typ` header as a media type, segment decoding into a
 * plain JSON object (a member named twice refused), and the one canonical base64url spelling.
 */

/**
 * The `typ` values every verifier accepts, as media types: `JWT` (RFC 7519 §5.1, a JWT that says
 * no more) and `at+jwt` (RFC 9068 §2.1, an access token). A JWT of another kind (a DPoP proof,
 * a logout or security event token, an ID token that says so) is refused (RFC 8725 §3.11).
 */
export const ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set([
  'application/jwt',
  'application/at+jwt',
]);

/**
 * A `typ` value as the media type it names (RFC 7515 §4.1.9): lower case (media types compare
 * case-insensitively), `application/` prepended when it has no `/`.
 */
export function mediaTypeOf(typ: string): string {
  const type = typ.toLowerCase();
  return type.includes('/') ? type : `application/${type}`;
}

/** The base64url alphabet (no padding), one character or more. */
export const B64URL = /^[A-Za-z0-9_-]+$/;
// ignoreBOM keeps a leading U+FEFF, which JSON.parse then refuses: jsonwebtoken would too, and
// the two parsers must never read different claims from one segment.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type SegmentError = 'not JSON' | 'not a JSON object' | 'a member named twice';

/**
 * Decodes one base64url JWT segment into a plain JSON object, or a reason it is not one. A
 * member named twice is refused (RFC 7515 §4, RFC 8725 §3.1): parsers disagree on which copy
 * wins, so a gateway and this verifier could read different `alg`, `kid` or claims.
 */
export function decodeSegment(
  segment: string,
): { readonly value: Record<string, unknown> } | { readonly error: SegmentError } {
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'not a JSON object' };
  }
  if (hasDuplicateMember(text)) return { error: 'a member named twice' };
  return { value: value as Record<string, unknown> };
}

/** True when an object anywhere in `text` (valid JSON) names a member twice, escapes decoded. */
function hasDuplicateMember(text: string): boolean {
  // One entry per open object (its member names so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = i + 1;
      let escaped = false;
      while (text.charCodeAt(end) !== 0x22) {
        if (text.charCodeAt(end) === 0x5c) {
          escaped = true;
          end += 1;
        }
        end += 1;
      }
      if (expectName) {
        const name = escaped
          ? (JSON.parse(text.slice(i, end + 1)) as string)
          : text.slice(i + 1, end);
        const names = open[open.length - 1]!;
        if (names.has(name)) return true;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (c === 0x7b) {
      open.push(new Set());
      expectName = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectName = false;
    } else if (c === 0x2c) {
      expectName = (open[open.length - 1] ?? null) !== null;
    }
  }
  return false;
}

/**
 * True when `segment` is the one base64url spelling of its bytes. Unused low bits in the last
 * character would otherwise give one signature many spellings (RSA and ECDSA verifiers decode
 * before comparing), so one token would have several fingerprints.
 */
export function isCanonical(segment: string): boolean {
  return (
    segment.length % 4 !== 1 && Buffer.from(segment, 'base64url').toString('base64url') === segment
  );
}
