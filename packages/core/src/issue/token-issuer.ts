import { randomUUID, sign, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ConfigError, TokenwardenError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { isSafeId } from '../internal/text';
import type { WardenMetrics } from '../metrics/types';
import type { AuditRecorder } from './lifecycle';
import type { SigningKeySource } from './signing-key-source';

/** What one client may be issued. */
export interface IssuerClient {
  /** Scopes the client may ask for; anything else is refused. */
  readonly scopes: readonly string[];
  /** Longest token lifetime for this client, in ms (capped by the issuer's maximum). */
  readonly maxTokenLifetimeMs?: number;
}

/** Options of {@link TokenIssuer}. */
export interface TokenIssuerOptions {
  /** `iss` of every token. */
  readonly issuer: string;
  /** `aud` of every token. */
  readonly audience: string | readonly string[];
  /** The key to sign with: a `SigningKeyRing`, or `staticSigningKey(...)`. */
  readonly keys: SigningKeySource;
  /** Clients by id, with their allowed scopes and lifetime. Unknown clients are refused. */
  readonly clients: Readonly<Record<string, IssuerClient>>;
  /** Global cap on token lifetime, in ms. Default: 900000 (15 minutes). */
  readonly maxTokenLifetimeMs?: number;
  /** `token.issued` audit events. Default: none. */
  readonly audit?: AuditRecorder;
  /** `tokens_issued_total{client}`. Default: none. */
  readonly metrics?: Pick<WardenMetrics, 'tokenIssued'>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** One issuance request. */
export interface IssueRequest {
  /** The client asking; must be one of the issuer's clients. */
  readonly client: string;
  /** `sub` of the token. Default: the client id (client credentials). */
  readonly subject?: string;
  /** Scopes asked for. Default: every scope the client is allowed. */
  readonly scopes?: readonly string[];
  /** Lifetime asked for, in ms. Default and ceiling: the client's maximum. */
  readonly lifetimeMs?: number;
  /** Who asked, for the audit trail (a service, an operator). */
  readonly actor?: string;
}

/** A minted token and what it says. Times in epoch ms. */
export interface IssuedToken {
  /** The compact JWT. Hand it to the client; never log it. */
  readonly token: string;
  readonly tokenId: string;
  readonly client: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** `kid` of the signing key. */
  readonly kid: string;
}

/** OAuth 2.0 error codes (RFC 6749 §5.2) an issuance can fail with. */
export type IssueErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope';

/**
 * An issuance refused, code `issue_refused`: `error` is the OAuth error a token endpoint sends
 * (not an `ErrorCode`), the message is safe to send to the client.
 */
export class IssueError extends TokenwardenError {
  constructor(
    /** The OAuth 2.0 error (RFC 6749 §5.2) to answer with, e.g. `invalid_scope`. */
    readonly error: IssueErrorCode,
    message: string,
  ) {
    super('issue_refused', message);
  }
}

const MAX_ID = 256;

/**
 * Mints short-lived, least-privilege JWTs: `jti`, `iat`, `exp` within the client's lifetime,
 * `scope` within the client's allowed set, signed with the key ring's active key (`kid` in the
 * header). Every issuance, and every refusal, is an audit event (never the token).
 *
 * @example
 * const issuer = new TokenIssuer({ issuer: 'https://api.example.com/', audience: 'customers-api',
 *   keys: ring, clients: { 'support-console': { scopes: ['customers:read'], maxTokenLifetimeMs: 600_000 } } });
 * const { token } = issuer.issue({ client: 'support-console', scopes: ['customers:read'] });
 */
export class TokenIssuer {
  private readonly maxLifetimeMs: number;
  private readonly clock: Clock;
  private readonly clients: ReadonlyMap<
    string,
    { scopes: ReadonlySet<string>; maxMs: number; list: readonly string[] }
  >;

  constructor(private readonly options: TokenIssuerOptions) {
    if (!isSafeId(options.issuer, MAX_ID))
      throw new ConfigError('token issuer: issuer is required');
    const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
    if (
      !Array.isArray(audiences) ||
      audiences.length === 0 ||
      !audiences.every((a) => isSafeId(a, MAX_ID))
    ) {
      throw new ConfigError('token issuer: audience is required');
    }
    this.maxLifetimeMs = options.maxTokenLifetimeMs ?? 900_000;
    if (!(this.maxLifetimeMs >= 1000)) {
      throw new ConfigError('token issuer: maxTokenLifetimeMs must be at least 1000 ms');
    }
    this.clock = options.clock ?? systemClock;
    const clients = new Map<
      string,
      { scopes: ReadonlySet<string>; maxMs: number; list: readonly string[] }
    >();
    for (const [id, client] of Object.entries(options.clients ?? {})) {
      if (!isSafeId(id, MAX_ID) || id.includes(' ')) {
        throw new ConfigError(
          `token issuer: client id '${id}' must be 1 to ${MAX_ID} characters without spaces`,
        );
      }
      const maxMs = client.maxTokenLifetimeMs ?? this.maxLifetimeMs;
      if (!(maxMs >= 1000) || maxMs > this.maxLifetimeMs) {
        throw new ConfigError(
          `token issuer: client '${id}' has a maximum lifetime of ${maxMs} ms; keep it between 1000 ms and the global cap (${this.maxLifetimeMs} ms)`,
        );
      }
      for (const scope of client.scopes) {
        if (!isSafeId(scope, MAX_ID) || scope.includes(' ')) {
          throw new ConfigError(`token issuer: client '${id}' has an invalid scope name`);
        }
      }
      clients.set(id, { scopes: new Set(client.scopes), maxMs, list: [...client.scopes] });
    }
    this.clients = clients;
  }

  /** Whether `client` is one of the issuer's clients. */
  hasClient(client: string): boolean {
    return this.clients.has(client);
  }

  /** The scopes `client` may be issued, or `undefined` for a client the issuer does not know. */
  clientScopes(client: string): readonly string[] | undefined {
    return this.clients.get(client)?.list;
  }

  /** Mints a token. Throws {@link IssueError} when the client or a scope is not allowed. */
  issue(request: IssueRequest): IssuedToken {
    const client = this.clients.get(request.client);
    if (client === undefined) {
      this.refuse(request, 'unauthorized_client');
      throw new IssueError('unauthorized_client', 'the client may not be issued tokens');
    }
    const scopes = request.scopes === undefined ? client.list : [...new Set(request.scopes)];
    const outside = scopes.filter((s) => !client.scopes.has(s));
    if (outside.length > 0) {
      this.refuse(request, 'invalid_scope');
      throw new IssueError('invalid_scope', 'a requested scope is not allowed for this client');
    }
    const subject = request.subject ?? request.client;
    if (!isSafeId(subject, MAX_ID)) {
      this.refuse(request, 'invalid_request');
      throw new IssueError('invalid_request', 'the subject is missing or invalid');
    }
    const lifetimeMs = Math.min(request.lifetimeMs ?? client.maxMs, client.maxMs);
    if (!(lifetimeMs >= 1000)) {
      this.refuse(request, 'invalid_request');
      throw new IssueError('invalid_request', 'the lifetime must be at least one second');
    }
    const key = this.options.keys.signingKey();
    const iat = Math.floor(this.clock.now() / 1000);
    const exp = iat + Math.floor(lifetimeMs / 1000);
    const tokenId = randomUUID();
    const claims = {
      iss: this.options.issuer,
      sub: subject,
      aud: this.options.audience,
      iat,
      exp,
      jti: tokenId,
      client_id: request.client,
      scope: scopes.join(' '),
    };
    const header = { alg: key.alg, typ: 'at+jwt', kid: key.kid };
    const token =
      key.alg === 'EdDSA'
        ? signEdDsa(header, claims, key.key)
        : jwt.sign(claims, key.key, { algorithm: key.alg, keyid: key.kid, header });
    this.options.metrics?.tokenIssued(request.client);
    this.options.audit?.recordEvent({
      type: 'token.issued',
      outcome: 'success',
      tokenId,
      subject,
      client: request.client,
      scopes,
      ...(request.actor ? { actor: request.actor } : {}),
      detail: {
        kid: key.kid,
        expiresAt: new Date(exp * 1000).toISOString(),
        lifetimeSeconds: exp - iat,
      },
    });
    return {
      token,
      tokenId,
      client: request.client,
      subject,
      scopes,
      issuedAt: iat * 1000,
      expiresAt: exp * 1000,
      kid: key.kid,
    };
  }

  private refuse(request: IssueRequest, reason: IssueErrorCode): void {
    const known = this.clients.has(request.client);
    this.options.audit?.recordEvent({
      type: 'token.issued',
      outcome: 'failure',
      reason,
      // An unknown client id is caller input: keep it out of the trail unless it is a real client.
      ...(known ? { client: request.client } : {}),
      ...(request.actor ? { actor: request.actor } : {}),
    });
  }
}

/** A compact JWS signed with EdDSA (RFC 8037), which jsonwebtoken 9 does not implement. */
function signEdDsa(header: object, claims: object, key: KeyObject): string {
  const input = `${base64url(header)}.${base64url(claims)}`;
  return `${input}.${sign(null, Buffer.from(input, 'ascii'), key).toString('base64url')}`;
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
