import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError, StoreUnavailableError } from '../errors';
import type { RefreshTokens } from './refresh';
import type { IssuedRefreshToken } from './refresh-grant';
import type { AuditRecorder } from './lifecycle';
import {
  errorAnswer,
  NO_STORE,
  SERVER_ERROR,
  success,
  UNAVAILABLE,
  type TokenEndpointResponse,
} from './token-endpoint-answers';
import { parseBasic, readTokenParams, type TokenParams } from './token-endpoint-params';
import {
  IssueError,
  type IssueErrorCode,
  type IssueRequest,
  type IssuedToken,
  type TokenIssuer,
} from './token-issuer';

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

/** Where the token endpoint reports failures it answers with a generic 500 (a warden's logger fits). */
interface ErrorLogger {
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
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
  /**
   * Receives unexpected failures (a store or revoker that throws), at most once a minute per
   * kind of error; the client gets a generic `500 server_error`. Default: stderr.
   */
  readonly logger?: ErrorLogger;
}

/** An access token and the first refresh token of its family (see {@link TokenEndpoint.issueWithRefresh}). */
export interface IssuedTokenPair {
  readonly accessToken: IssuedToken;
  readonly refreshToken: IssuedRefreshToken;
  /** The RFC 6749 §5.1 answer carrying both, with no-store headers. */
  readonly response: TokenEndpointResponse;
}

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
  private readonly loggedAt = new Map<string, number>();

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

  /**
   * Answers one token request. Never throws: bad input gets an RFC 6749 §5.2 error, a store that
   * cannot answer `503 temporarily_unavailable`, any other failure (a revoker that throws) a
   * generic `500 server_error` without the error's text, logged. Never echoes a secret.
   */
  async handle(request: TokenRequestView): Promise<TokenEndpointResponse> {
    try {
      return await this.answer(request);
    } catch (error) {
      return this.failure(error);
    }
  }

  /**
   * The generic answer to an unexpected failure (a `StoreUnavailableError` gets `503`, anything
   * else `500`); the failure is logged, at most once a minute per kind of error, with its name and
   * message but never in the answer.
   */
  private failure(error: unknown): TokenEndpointResponse {
    if (error instanceof StoreUnavailableError) return UNAVAILABLE;
    const kind = describe(error);
    const now = Date.now();
    if ((this.loggedAt.get(kind) ?? -Infinity) <= now - 60_000) {
      this.loggedAt.set(kind, now);
      (this.options.logger ?? stderrLogger).error('token endpoint: a token request failed', {
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
    return SERVER_ERROR;
  }

  private async answer(request: TokenRequestView): Promise<TokenEndpointResponse> {
    if (request.method.toUpperCase() !== 'POST') {
      return {
        status: 405,
        headers: { ...NO_STORE, allow: 'POST' },
        body: { error: 'invalid_request', error_description: 'use POST' },
      };
    }
    const params = readTokenParams(request.body, request.header('content-type'));
    if (typeof params === 'string') return this.error('invalid_request', params);
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
    params: TokenParams,
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
    return errorAnswer(code, description, challenge ? (this.options.realm ?? 'token') : undefined);
  }
}

const UNKNOWN = createHash('sha256').update('tokenwarden: no such client').digest();

function digest(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

const stderrLogger: ErrorLogger = {
  error: (message, fields) => console.error(`[tokenwarden] ${message}`, fields ?? ''),
};

function describe(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
