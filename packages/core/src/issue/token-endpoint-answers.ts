import type { IssuedRefreshToken } from './refresh-grant';
import type { JwkSet } from './signing-keys';
import type { IssueErrorCode, IssuedToken } from './token-issuer';

/** What the adapter sends back: status, headers and a JSON body. */
export interface TokenEndpointResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
}

/** RFC 6749 §5.1: token answers are never cached. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** An RFC 6749 §5.2 error answer: 401 for `invalid_client`, else 400. */
export function errorAnswer(
  code: IssueErrorCode,
  description: string,
  challengeRealm?: string,
): TokenEndpointResponse {
  const status = code === 'invalid_client' ? 401 : 400;
  return {
    status,
    headers: {
      ...NO_STORE,
      ...(status === 401 && challengeRealm !== undefined
        ? { 'www-authenticate': `Basic realm="${challengeRealm.replace(/["\\]/g, '')}"` }
        : {}),
    },
    body: { error: code, error_description: description },
  };
}

/** The credential store (or the revocation list) cannot answer: try again shortly. */
export const UNAVAILABLE: TokenEndpointResponse = {
  status: 503,
  headers: { ...NO_STORE, 'retry-after': '1' },
  body: { error: 'temporarily_unavailable', error_description: 'try again shortly' },
};

/**
 * Anything else failed (a revoker or store that threw): a generic answer that carries neither the
 * error's message nor its stack. The error itself goes to the endpoint's logger.
 */
export const SERVER_ERROR: TokenEndpointResponse = {
  status: 500,
  headers: { ...NO_STORE },
  body: { error: 'server_error', error_description: 'the token request could not be completed' },
};

/** The RFC 6749 §5.1 answer: the access token, and the next refresh token when there is one. */
export function success(
  issued: IssuedToken,
  refresh?: Pick<IssuedRefreshToken, 'refreshToken'>,
): TokenEndpointResponse {
  return {
    status: 200,
    headers: { ...NO_STORE },
    body: {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: Math.round((issued.expiresAt - issued.issuedAt) / 1000),
      scope: issued.scopes.join(' '),
      ...(refresh === undefined ? {} : { refresh_token: refresh.refreshToken }),
    },
  };
}

/** What a JWKS endpoint answers: the key set, cacheable for a short while. */
export function jwksResponse(
  source: { jwks(): JwkSet },
  maxAgeSeconds = 300,
): TokenEndpointResponse {
  return {
    status: 200,
    headers: { 'cache-control': `public, max-age=${maxAgeSeconds}` },
    body: { keys: source.jwks().keys },
  };
}
