import type { Pseudonymizer } from '../audit/privacy';
import type { AuditEventInput } from '../audit/types';
import type { Clock } from '../internal/clock';
import type { AuditRecorder, TokenRevoker } from '../issue/lifecycle';
import type { WardenMetrics } from '../metrics/types';
import type { CredentialStore } from '../store/credential-types';
import type { JwtVerifyPolicy } from '../verify/jwt';
import {
  findStoredCredential,
  isStoredCredentialLive,
  revokeStoredCredential,
  storedCredentialId,
  type StoredCredential,
} from './find';
import { ownJwt, type OwnJwt } from './jwt';

/** What a leaked secret turned out to be, without the secret. */
export type IdentifiedCredential =
  | { readonly kind: 'api_key' | 'refresh_token'; readonly stored: StoredCredential }
  | { readonly kind: 'jwt'; readonly jwt: OwnJwt };

/** The facts of an identified credential that go into an audit event. */
export interface CredentialFacts {
  readonly kind: IdentifiedCredential['kind'];
  /** `ak_…`, `rf_…`, or the JWT's `jti`. */
  readonly tokenId: string;
  readonly subject: string;
  readonly client: string | undefined;
  readonly expiresAt: number;
  readonly live: boolean;
}

/** What a warden gives its leak responses; built once by the composition root. */
export interface LeakParts {
  /** The warden's own JWT settings (its keys, issuer, audience), if it verifies its own JWTs. */
  readonly jwt: JwtVerifyPolicy | undefined;
  /** Where API keys and refresh-token families are found: the warden's `apiKeys.store`. */
  readonly credentials: CredentialStore | undefined;
  /** Revokes token ids and records lifecycle events: the warden's admin. */
  readonly admin: TokenRevoker & AuditRecorder;
  readonly pseudonyms: Pseudonymizer;
  readonly metrics: WardenMetrics;
  readonly clock: Clock;
  /** Whether audit events are written at all. */
  readonly auditing: boolean;
  readonly logError: (message: string, error: unknown) => void;
}

/**
 * Identifies leaked secrets and revokes them, for every leak path: a secret-scanning report, a
 * credential seen in a refused place (a query string), and `tokenwarden revoke --secret`. It
 * never keeps, logs or audits a secret: only its keyed fingerprint and the ids of what it was.
 */
export class LeakResponder {
  constructor(readonly parts: LeakParts) {}

  /** The keyed fingerprint of a secret, the same the access-decision events carry. */
  fingerprint(secret: string): string {
    return this.parts.pseudonyms.fingerprint(secret);
  }

  /**
   * What a secret is among this warden's credentials: an API key or refresh token found by hash
   * in `credentials` (default: the warden's `apiKeys.store`), or a JWT whose signature verifies
   * against the warden's keys. Undefined when it is none of them. Rejects when a store fails.
   */
  async identify(
    secret: string,
    credentials: CredentialStore | undefined = this.parts.credentials,
  ): Promise<IdentifiedCredential | undefined> {
    if (secret.startsWith('twk_') || secret.startsWith('twr_')) {
      if (credentials === undefined) return undefined;
      const stored = await findStoredCredential(secret, credentials);
      return stored === undefined ? undefined : { kind: stored.kind, stored };
    }
    const jwt = await ownJwt(secret, this.parts.jwt, this.parts.clock.now());
    return jwt === undefined ? undefined : { kind: 'jwt', jwt };
  }

  /** The ids and times of an identified credential, for the audit trail and the answer. */
  facts(found: IdentifiedCredential): CredentialFacts {
    if (found.kind === 'jwt') {
      const token = found.jwt.token;
      return {
        kind: 'jwt',
        tokenId: token.tokenId,
        subject: token.subject,
        client: token.client,
        expiresAt: token.expiresAt,
        live: found.jwt.live,
      };
    }
    const stored = found.stored;
    const record = stored.kind === 'api_key' ? stored.record : stored.family;
    return {
      kind: found.kind,
      tokenId: storedCredentialId(stored),
      subject: record.subject,
      client: record.client,
      expiresAt: record.expiresAt,
      live: isStoredCredentialLive(stored, this.parts.clock.now()),
    };
  }

  /**
   * Revokes an identified credential at once when it still works: a JWT by its `jti` until it
   * expires, an API key (record and id), a refresh-token family with its access tokens. Each
   * revocation writes its own lifecycle event. Resolves true when something was revoked now.
   */
  async revoke(
    found: IdentifiedCredential,
    options: { readonly actor: string; readonly reason: string },
    credentials: CredentialStore | undefined = this.parts.credentials,
  ): Promise<boolean> {
    const facts = this.facts(found);
    if (!facts.live) return false;
    const admin = this.parts.admin;
    if (found.kind === 'jwt') {
      await admin.revokeToken(facts.tokenId, { expiresAt: facts.expiresAt, ...options });
      return true;
    }
    if (credentials === undefined) return false;
    return revokeStoredCredential(
      found.stored,
      { store: credentials, revoker: admin, audit: admin, clock: this.parts.clock },
      options,
    );
  }

  /** Records a lifecycle event about a leak; never throws. */
  record(event: AuditEventInput): void {
    if (this.parts.auditing) this.parts.admin.recordEvent(event);
  }
}

/** The audit fields of an identified credential. */
export function factFields(facts: CredentialFacts | undefined): Partial<AuditEventInput> {
  if (facts === undefined) return {};
  return {
    tokenId: facts.tokenId,
    subject: facts.subject,
    ...(facts.client !== undefined ? { client: facts.client } : {}),
  };
}

/**
 * Text from a report or a request (a URL, a source name) as the audit trail may keep it: at most
 * `max` characters, control and non-ASCII characters escaped as `\uXXXX`, so a hostile value
 * can neither break a log line nor hide in one.
 */
export function auditText(value: unknown, max = 256): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  let out = '';
  for (const char of value.slice(0, max)) {
    const code = char.charCodeAt(0);
    out +=
      code < 0x20 || code > 0x7e || char === '\\'
        ? `\\u${code.toString(16).padStart(4, '0')}`
        : char;
    if (out.length >= max) break;
  }
  return out.length > max ? out.slice(0, max) : out;
}
