import type { ErrorCode } from '../errors';
import type { RequestView } from '../request';

/** Where credentials are read from; resolved with defaults. */
export interface ExtractPolicy {
  /** Header carrying `Bearer <token>`, lower case. */
  readonly header: string;
  /** Cookie carrying the bare token, or undefined for none. */
  readonly cookie: string | undefined;
  /** Query parameter carrying the token, or undefined (the default: tokens in URLs leak into logs). */
  readonly queryParameter: string | undefined;
  /** Largest token accepted, in bytes; checked before any parsing. */
  readonly maxTokenBytes: number;
  /** Accept the `DPoP` scheme in the header too (RFC 9449), when DPoP is configured. */
  readonly dpop?: boolean;
  /**
   * The application's own token getter, read instead of the header: the bare token, or
   * undefined for none. Its token is still size-capped and token68-checked.
   */
  readonly getToken?: (request: RequestView) => string | undefined;
  /**
   * False when a request without any credential goes on anonymously (`credentialsRequired:
   * false`); a credential that is sent is still checked. Default: true.
   */
  readonly required?: boolean;
}

/** How the credential was presented: `DPoP` is the header's RFC 9449 scheme; anything else is bearer. */
export type CredentialScheme = 'bearer' | 'dpop';

export type ExtractResult =
  | { readonly ok: true; readonly token: string; readonly scheme: CredentialScheme }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly detail: string;
      /**
       * True when the header names another authentication scheme (`Basic`, `Digest`, a bare
       * value): the request carries no Bearer credential, so its challenge has no error code
       * (RFC 6750 §3.1), while `code` still says what was sent.
       */
      readonly otherScheme?: boolean;
    };

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const DPOP = /^dpop +([A-Za-z0-9\-._~+/]+=*)$/i;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
// The scheme is the header's first word (RFC 9110 §11.4): `Bearer` (and `DPoP`, when accepted)
// followed by anything malformed is still an attempt at that scheme.
const BEARER_SCHEME = /^bearer(?:[ \t]|$)/i;
const DPOP_SCHEME = /^dpop(?:[ \t]|$)/i;

/** Finds exactly one credential in the request. Never parses more than `maxTokenBytes`. */
export function extractToken(view: RequestView, policy: ExtractPolicy): ExtractResult {
  // At most one credential may be found; a second one is an error whatever it is.
  let token: string | undefined;
  // A token from the header has passed the token68 check as part of the scheme match.
  let checked = false;
  let scheme: CredentialScheme = 'bearer';
  const getToken = policy.getToken;
  if (getToken !== undefined) {
    const got = gotToken(getToken, view);
    if (typeof got !== 'string') return got;
    if (got !== '') token = got;
  }
  const headers = getToken === undefined ? view.headerValues(policy.header) : undefined;
  // An adapter may report an absent header as an empty list.
  if (headers && headers.length > 0) {
    if (headers.length > 1) {
      return { ok: false, code: 'token_multiple', detail: 'repeated authorization header' };
    }
    const value = headers[0]!;
    // "Bearer " plus the token: anything longer is refused before the regex runs.
    if (value.length > policy.maxTokenBytes + 16) {
      return { ok: false, code: 'token_too_large', detail: 'header above the size cap' };
    }
    let match = BEARER.exec(value);
    if (!match && policy.dpop) {
      match = DPOP.exec(value);
      if (match) scheme = 'dpop';
    }
    if (!match) {
      if (BEARER_SCHEME.test(value) || (policy.dpop === true && DPOP_SCHEME.test(value))) {
        return { ok: false, code: 'token_malformed', detail: 'malformed credential' };
      }
      return OTHER_SCHEME;
    }
    token = match[1]!;
    checked = true;
  }
  if (policy.cookie !== undefined && view.cookie) {
    const value = view.cookie(policy.cookie);
    if (value !== undefined && value !== '') {
      if (token !== undefined) return MULTIPLE;
      token = value;
      checked = false;
    }
  }
  const url = view.url;
  if (url.indexOf('?') >= 0) {
    const query = queryTokens(url, policy.queryParameter ?? 'access_token');
    // Query tokens are refused unless enabled, but one next to another credential is an error.
    if (query.length > 0 && (policy.queryParameter !== undefined || token !== undefined)) {
      if (token !== undefined || query.length > 1) return MULTIPLE;
      token = query[0]!;
      checked = false;
    }
  }
  if (token === undefined) return { ok: false, code: 'token_missing', detail: 'no credential' };
  if (token.length > policy.maxTokenBytes) {
    return { ok: false, code: 'token_too_large', detail: 'token above the size cap' };
  }
  if (!checked && !TOKEN68.test(token)) {
    return { ok: false, code: 'token_malformed', detail: 'bad characters' };
  }
  return { ok: true, token, scheme };
}

/** What the application's getter found: a token, '' for none, or the refusal of what it gave. */
function gotToken(
  getToken: (request: RequestView) => string | undefined,
  view: RequestView,
): string | ExtractResult {
  let got: unknown;
  try {
    got = getToken(view);
  } catch {
    return GETTER_FAILED;
  }
  if (got === undefined || got === null) return '';
  return typeof got === 'string' ? got : GETTER_FAILED;
}

const GETTER_FAILED: ExtractResult = Object.freeze({
  ok: false,
  code: 'token_malformed',
  detail: 'the token getter failed or gave no string',
});

const OTHER_SCHEME: ExtractResult = Object.freeze({
  ok: false,
  code: 'token_malformed',
  detail: 'another authentication scheme',
  otherScheme: true,
});

const MULTIPLE: ExtractResult = Object.freeze({
  ok: false,
  code: 'token_multiple',
  detail: 'more than one credential',
});

/** Every value of the query parameter: a repeated parameter is more than one credential. */
function queryTokens(url: string, name: string): string[] {
  const q = url.indexOf('?');
  if (q < 0 || url.indexOf(name, q) < 0) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll(name);
}
