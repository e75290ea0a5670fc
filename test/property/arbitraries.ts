/**
 * fast-check arbitraries for hostile input: header values, JWT-shaped strings and mutations of
 * valid tokens. Shared by the property tests of extraction, verification and the whole decision.
 */
import fc from 'fast-check';
import { mintToken } from '@tokenwarden/testing';

const B64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const TOKEN68_EXTRA = '.~+/=';

/** base64url of arbitrary bytes. */
export const b64Bytes = fc
  .uint8Array({ maxLength: 96 })
  .map((bytes) => Buffer.from(bytes).toString('base64url'));

/** base64url of a JSON value (often an object). */
export const b64Json = fc
  .oneof(
    fc.jsonValue(),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    headerObject(),
  )
  .map((value) => Buffer.from(JSON.stringify(value) ?? 'null', 'utf8').toString('base64url'));

/** Headers a verifier might be fooled by: allowed or odd `alg`, known or odd `kid`, extensions. */
export function headerObject(): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      alg: fc.oneof(
        fc.constantFrom('HS256', 'RS256', 'ES256', 'none', 'HS512', 'PS256', 'hs256', ''),
        fc.jsonValue(),
      ),
      kid: fc.oneof(fc.constantFrom('hs-1', 'rs-1', 'es-1', '__proto__', '../x'), fc.jsonValue()),
      typ: fc.constantFrom('JWT', 'at+jwt', 'JWE'),
      crit: fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 }),
      jku: fc.webUrl(),
      jwk: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 8 })),
    },
    { requiredKeys: [] },
  );
}

/** Strings shaped like a compact JWS (or almost): segments of JSON, bytes or junk, 1–5 of them. */
export const jwtShaped: fc.Arbitrary<string> = fc
  .array(fc.oneof(b64Json, b64Bytes, fc.string({ maxLength: 12 }), fc.constant('')), {
    minLength: 1,
    maxLength: 5,
  })
  .map((segments) => segments.join('.'));

/** A string over the token68 alphabet (what the Bearer grammar lets through). */
export const token68 = fc
  .array(fc.constantFrom(...(B64URL_CHARS + TOKEN68_EXTRA).split('')), { maxLength: 200 })
  .map((chars) => chars.join(''));

/** An edit of a string: replace, insert or delete one character, or swap two segments. */
export type Edit =
  | { readonly kind: 'replace'; readonly at: number; readonly char: string }
  | { readonly kind: 'insert'; readonly at: number; readonly char: string }
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'truncate'; readonly at: number };

const editChar = fc.constantFrom(...(B64URL_CHARS + '.=+/ ').split(''));
export const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: editChar }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), char: editChar }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies edits in turn (positions taken modulo the current length). */
export function applyEdits(token: string, edits: readonly Edit[]): string {
  let out = token;
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    if (e.kind === 'replace') out = `${out.slice(0, at)}${e.char}${out.slice(at + 1)}`;
    else if (e.kind === 'insert') out = `${out.slice(0, at)}${e.char}${out.slice(at)}`;
    else if (e.kind === 'delete') out = `${out.slice(0, at)}${out.slice(at + 1)}`;
    else out = out.slice(0, at);
  }
  return out;
}

/** A few valid tokens, one per algorithm, minted now with a five-minute life. */
export function validTokens(): readonly string[] {
  return (['HS256', 'RS256', 'ES256'] as const).map((alg) => mintToken({ alg }));
}

/** Header values as a client might send them: Bearer-ish, other schemes, junk, Latin-1. */
export function authorizationValue(tokens: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc
      .tuple(
        fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', ''),
        fc.string(),
        jwtShaped,
      )
      .map(([scheme, sep, token]) => `${scheme}${sep.length % 3 === 0 ? ' ' : sep}${token}`),
    fc
      .tuple(fc.constantFrom(...tokens), fc.array(edit, { minLength: 1, maxLength: 3 }))
      .map(([token, edits]) => `Bearer ${applyEdits(token, edits)}`),
    token68.map((t) => `Bearer ${t}`),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ maxLength: 300 }),
  );
}
