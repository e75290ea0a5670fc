import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors';
import type { AuditRecorder } from './signing-key-ring';
import { IssueError, type IssueErrorCode, type TokenIssuer } from './token-issuer';
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
}

/** Largest body the endpoint reads, in bytes. */
export const MAX_TOKEN_REQUEST_BYTES = 8192;

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/**
 * An OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4) without a framework: client
 * authentication by HTTP Basic (`client_secret_basic`) or body parameters (`client_secret_post`),
 * `scope` checked against the client's allowed set, the JSON answer of §5.1, errors of §5.2.
 * Adapters turn a request into a {@link TokenRequestView} and write the response.
 *
 * @example
 * const endpoint = new TokenEndpoint({ issuer, clientSecrets: { 'support-console': secret } });
 * const answer = await endpoint.handle({ method: 'POST', header, body });
 */
export class TokenEndpoint {
  private readonly digests: ReadonlyMap<string, Buffer>;

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
    if (params.grant_type !== 'client_credentials') {
      return this.error('unsupported_grant_type', 'only client_credentials is supported here');
    }
    const scope = params.scope;
    if (scope !== undefined && (scope.length > 4096 || /[^\x21\x23-\x5b\x5d-\x7e ]/.test(scope))) {
      return this.error('invalid_scope', 'the scope parameter is malformed');
    }
    try {
      const issued = this.options.issuer.issue({
        client: clientId,
        ...(scope !== undefined ? { scopes: scope.split(' ').filter((s) => s !== '') } : {}),
        actor: clientId,
      });
      return {
        status: 200,
        headers: { ...NO_STORE },
        body: {
          access_token: issued.token,
          token_type: 'Bearer',
          expires_in: Math.round((issued.expiresAt - issued.issuedAt) / 1000),
          scope: issued.scopes.join(' '),
        },
      };
    } catch (error) {
      if (error instanceof IssueError) return this.error(error.error, error.message);
      throw error;
    }
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

function digest(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

type Params = Partial<Record<'grant_type' | 'client_id' | 'client_secret' | 'scope', string>>;
const NAMES = ['grant_type', 'client_id', 'client_secret', 'scope'] as const;

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
