import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError, StoreUnavailableError } from '../errors';
import type { IssuedRefreshToken, RefreshTokens } from './refresh';
import type { AuditRecorder } from './signing-key-ring';
import {
  IssueError,
  type IssueErrorCode,
  type IssueRequest,
  type IssuedToken,
  type TokenIssuer,
} from './token-issuer';
import type { JwkSet } from './signing-keys';

/** The parts of an HTTP request the token endpoint reads. */
export interface TokenRequestView {
  readonly method: string;
  /** Header value by lower-case name. */
  readonly header: (name: string) => string | undefined;
  /**
   * The body: an object a body parser produced, or the raw text
   * (`application/x-www-form-urlencoded` or JSON), or undefined.
   */
  readonly body: unknown;
}

/** What the adapter sends back: status, headers and a JSON body. */
export interface TokenEndpointResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
}

/** Options of {@link TokenEndpoint}. */
export interface TokenEndpointOptions {
  /** Mints the tokens; its clients are the ones that may ask. */
  readonly issuer: TokenIssuer;
  /**
   * Each client's secret (from a file, the environment or a vault; never from code). Kept in
   * memory only as a SHA-256 digest. A client without a secret cannot use the endpoint.
   */
  readonly clientSecrets: Readonly<Record<string, string | Buffer>>;
  /** Failed client authentications as `token.issued` failure events. Default: none. */
  readonly audit?: AuditRecorder;
  /** `realm` of the `WWW-Authenticate: Basic` challenge. Default: `'token'`. */
  readonly realm?: string;
  /**
   * Enables the `refresh_token` grant (RFC 6749 §6): the presented token is rotated on every use,
   * a reused one revokes its family and every access token issued from it, and a token presented
   * by another client than its own is treated as leaked the same way. Scopes can only narrow.
   * Give it the warden (or `createAdmin`) as `revoker`, so API nodes refuse the revoked access
   * tokens. Default: none (`unsupported_grant_type`).
   */
  readonly refreshTokens?: RefreshTokens;
  /**
   * Clients that also receive a refresh token with `client_credentials`, each sign-in starting a
   * family. RFC 6749 §4.4.3 advises against refresh tokens for this grant: list only clients
   * that cannot keep their secret at hand for every token (a device provisioned once). Needs
   * `refreshTokens`. Clients signed in by your own login get one from
   * {@link TokenEndpoint.issueWithRefresh} instead. Default: none.
   */
  readonly refreshTokenClients?: readonly string[];
}

/** An access token and the first refresh token of its family (see {@link TokenEndpoint.issueWithRefresh}). */
export interface IssuedTokenPair {
  readonly accessToken: IssuedToken;
  readonly refreshToken: IssuedRefreshToken;
  /** The RFC 6749 §5.1 answer carrying both, with no-store headers. */
  readonly response: TokenEndpointResponse;
}

/** Largest body the endpoint reads, in bytes. */
export const MAX_TOKEN_REQUEST_BYTES = 8192;

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/**
 * An OAuth 2.0 token endpoint without a framework: the client-credentials grant (RFC 6749 §4.4)
 * and, with `refreshTokens`, the refresh-token grant (§6). Client authentication by HTTP Basic
 * (`client_secret_basic`) or body parameters (`client_secret_post`), `scope` checked against the
 * client's allowed set, the JSON answer of §5.1, errors of §5.2. Adapters turn a request into a
 * {@link TokenRequestView} and write the response.
 *
 * @example
 * const endpoint = new TokenEndpoint({ issuer, clientSecrets: { 'support-console': secret } });
 * const answer = await endpoint.handle({ method: 'POST', header, body });
 */
export class TokenEndpoint {
  private readonly digests: ReadonlyMap<string, Buffer>;
  private readonly refreshClients: ReadonlySet<string>;

  constructor(private readonly options: TokenEndpointOptions) {
    const digests = new Map<string, Buffer>();
    for (const [client, secret] of Object.entries(options.clientSecrets ?? {})) {
      const bytes = Buffer.isBuffer(secret) ? secret : Buffer.from(String(secret), 'utf8');
      if (bytes.length < 16) {
        throw new ConfigError(
          `token endpoint: the secret of client '${client}' is shorter than 16 bytes; use at least 32 random bytes`,
        );
      }
      if (!options.issuer.hasClient(client)) {
        throw new ConfigError(
          `token endpoint: client '${client}' has a secret but is not a client of the issuer`,
        );
      }
      digests.set(client, digest(bytes));
    }
    this.digests = digests;
    const refreshClients = options.refreshTokenClients ?? [];
    if (refreshClients.length > 0 && options.refreshTokens === undefined) {
      throw new ConfigError(
        'token endpoint: refreshTokenClients needs refreshTokens (a RefreshTokens over the shared credential store)',
      );
    }
    for (const client of refreshClients) {
      if (!digests.has(client)) {
        throw new ConfigError(
          `token endpoint: refresh-token client '${client}' has no secret here; give it one in clientSecrets`,
        );
      }
    }
    this.refreshClients = new Set(refreshClients);
  }

  /**
   * For deployments that run their own sign-in: once your login has authenticated the user, mints
   * an access token for them (`subject`) and starts a refresh-token family with it, so the client
   * can come back with `grant_type=refresh_token`. Send `response` as is. Audited like the
   * endpoint's own issuances. Throws {@link IssueError} when the client or a scope is refused.
   *
   * @example
   * const { response } = await endpoint.issueWithRefresh({ client: 'web-app', subject: user.id, scopes: ['profile:read'] });
   * res.status(response.status).set(response.headers).json(response.body);
   */
  async issueWithRefresh(
    request: IssueRequest & { readonly subject: string },
  ): Promise<IssuedTokenPair> {
    const refresh = this.options.refreshTokens;
    if (refresh === undefined) {
      throw new ConfigError('token endpoint: issueWithRefresh needs the refreshTokens option');
    }
    const accessToken = this.options.issuer.issue(request);
    const refreshToken = await refresh.issue(
      { subject: accessToken.subject, client: accessToken.client, scopes: accessToken.scopes },
      { tokenId: accessToken.tokenId, expiresAt: accessToken.expiresAt },
    );
    return { accessToken, refreshToken, response: success(accessToken, refreshToken) };
  }

  /** Answers one token request. Never throws for bad input; never echoes a secret. */
  async handle(request: TokenRequestView): Promise<TokenEndpointResponse> {
    if (request.method.toUpperCase() !== 'POST') {
      return {
        status: 405,
        headers: { ...NO_STORE, allow: 'POST' },
        body: { error: 'invalid_request', error_description: 'use POST' },
      };
    }
    const params = parseTokenRequestBody(request.body, request.header('content-type'));
    if (params === undefined) {
      return this.error('invalid_request', 'the body must be form-encoded or JSON parameters');
    }
    const basic = parseBasic(request.header('authorization'));
    if (basic === null) return this.error('invalid_client', 'malformed Basic credentials', true);
    if (
      basic !== undefined &&
      (params.client_id !== undefined || params.client_secret !== undefined)
    ) {
      return this.error('invalid_request', 'use one client authentication method');
    }
    const clientId = basic?.id ?? params.client_id;
    const secret = basic?.secret ?? params.client_secret;
    if (clientId === undefined || secret === undefined) {
      return this.error('invalid_client', 'client authentication is required', true);
    }
    const expected = this.digests.get(clientId);
    // Compare against a digest even for unknown clients so timing does not reveal which exist.
    const matches = timingSafeEqual(digest(Buffer.from(secret, 'utf8')), expected ?? UNKNOWN);
    if (expected === undefined || !matches) {
      this.options.audit?.recordEvent({
        type: 'token.issued',
        outcome: 'failure',
        reason: 'invalid_client',
        ...(expected !== undefined ? { client: clientId } : {}),
      });
      return this.error('invalid_client', 'client authentication failed', basic !== undefined);
    }
    if (params.grant_type === undefined)
      return this.error('invalid_request', 'grant_type is required');
    const scope = params.scope;
    if (scope !== undefined && (scope.length > 4096 || /[^\x21\x23-\x5b\x5d-\x7e ]/.test(scope))) {
      return this.error('invalid_scope', 'the scope parameter is malformed');
    }
    const scopes = scope === undefined ? undefined : scope.split(' ').filter((s) => s !== '');
    try {
      if (params.grant_type === 'client_credentials') {
        return await this.clientCredentials(clientId, scopes);
      }
      if (params.grant_type === 'refresh_token' && this.options.refreshTokens !== undefined) {
        return await this.refreshGrant(this.options.refreshTokens, clientId, params, scopes);
      }
    } catch (error) {
      if (error instanceof IssueError) return this.error(error.error, error.message);
      if (error instanceof StoreUnavailableError) return UNAVAILABLE;
      throw error;
    }
    return this.error(
      'unsupported_grant_type',
      this.options.refreshTokens === undefined
        ? 'only client_credentials is supported here'
        : 'only client_credentials and refresh_token are supported here',
    );
  }

  private async clientCredentials(
    clientId: string,
    scopes: readonly string[] | undefined,
  ): Promise<TokenEndpointResponse> {
    if (this.refreshClients.has(clientId)) {
      return (
        await this.issueWithRefresh({
          client: clientId,
          subject: clientId,
          scopes,
          actor: clientId,
        })
      ).response;
    }
    const issued = this.options.issuer.issue({
      client: clientId,
      ...(scopes !== undefined ? { scopes } : {}),
      actor: clientId,
    });
    return success(issued);
  }

  /**
   * RFC 6749 §6. Scopes asked for must lie within the family's and the client's allowed set
   * (checked before the token is spent); none asked means the family's scopes that the client
   * may still be issued (a policy that dropped a scope is honoured at once).
   */
  private async refreshGrant(
    refresh: RefreshTokens,
    clientId: string,
    params: Params,
    scopes: readonly string[] | undefined,
  ): Promise<TokenEndpointResponse> {
    const presented = params.refresh_token;
    if (presented === undefined || presented === '') {
      return this.error('invalid_request', 'refresh_token is required');
    }
    const allowed = new Set(this.options.issuer.clientScopes(clientId) ?? []);
    if (scopes !== undefined && scopes.some((s) => !allowed.has(s))) {
      return this.error('invalid_scope', 'a requested scope is not allowed for this client');
    }
    const result = await refresh.refresh(
      presented,
      (grant) =>
        this.options.issuer.issue({
          client: grant.client,
          subject: grant.subject,
          scopes: grant.scopes.filter((s) => allowed.has(s)),
          actor: clientId,
        }),
      { client: clientId, ...(scopes !== undefined ? { scopes } : {}) },
    );
    if (!result.ok) {
      return result.reason === 'scope_exceeded'
        ? this.error('invalid_scope', 'a requested scope was not granted to this refresh token')
        : this.error('invalid_grant', 'the refresh token is invalid, expired or revoked');
    }
    return success(result.accessToken, result);
  }

  private error(
    code: IssueErrorCode,
    description: string,
    challenge = false,
  ): TokenEndpointResponse {
    const status = code === 'invalid_client' ? 401 : 400;
    const realm = (this.options.realm ?? 'token').replace(/["\\]/g, '');
    return {
      status,
      headers: {
        ...NO_STORE,
        ...(status === 401 && challenge ? { 'www-authenticate': `Basic realm="${realm}"` } : {}),
      },
      body: { error: code, error_description: description },
    };
  }
}

const UNKNOWN = createHash('sha256').update('tokenwarden: no such client').digest();

const UNAVAILABLE: TokenEndpointResponse = {
  status: 503,
  headers: { ...NO_STORE, 'retry-after': '1' },
  body: { error: 'temporarily_unavailable', error_description: 'try again shortly' },
};

/** The RFC 6749 §5.1 answer: the access token, and the next refresh token when there is one. */
function success(
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

function digest(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

type Params = Partial<
  Record<'grant_type' | 'client_id' | 'client_secret' | 'scope' | 'refresh_token', string>
>;
const NAMES = ['grant_type', 'client_id', 'client_secret', 'scope', 'refresh_token'] as const;

/**
 * Token request parameters from a parsed body or raw text. Undefined when the body is not
 * parameters, or a parameter is repeated or not a string (RFC 6749 §3.2: no repeats).
 */
export function parseTokenRequestBody(
  body: unknown,
  contentType: string | undefined,
): Params | undefined {
  let source: Record<string, unknown>;
  if (body === undefined || body === null || body === '') {
    source = {};
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = body.toString();
    if (Buffer.byteLength(text) > MAX_TOKEN_REQUEST_BYTES) return undefined;
    if ((contentType ?? '').toLowerCase().includes('json')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
          return undefined;
        source = parsed as Record<string, unknown>;
      } catch {
        return undefined;
      }
    } else {
      const form = new URLSearchParams(text);
      source = {};
      for (const name of NAMES) {
        const values = form.getAll(name);
        if (values.length > 1) return undefined;
        if (values.length === 1) source[name] = values[0];
      }
    }
  } else if (typeof body === 'object' && !Array.isArray(body)) {
    source = body as Record<string, unknown>;
  } else {
    return undefined;
  }
  const out: Params = {};
  for (const name of NAMES) {
    const value = source[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length > 4096) return undefined;
    out[name] = value;
  }
  return out;
}

/** Basic credentials (RFC 6749 §2.3.1: form-encoded id and secret); null when malformed. */
function parseBasic(header: string | undefined): { id: string; secret: string } | undefined | null {
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!match) return /^Basic\b/i.test(header) ? null : undefined;
  const text = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  try {
    return {
      id: decodeURIComponent(text.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(text.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return null;
  }
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

/** Reads a request body stream as text, up to {@link MAX_TOKEN_REQUEST_BYTES}; undefined if larger. */
export async function readTokenRequestBody(
  stream: AsyncIterable<Buffer | string>,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_TOKEN_REQUEST_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
