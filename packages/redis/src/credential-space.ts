import type { Clock } from '@tokenwarden/core';
import type { RedisConnection } from './connection';
import type { KeySpace } from './keys';
import type { COMMANDS, ScriptCalls } from './scripts';
import { epochArg, epochNumber, nowArg, unexpectedReply } from './values';

/** The class named in the errors of every credential module. */
export const OWNER = 'RedisCredentialStore';

type CredentialCommand = (typeof COMMANDS)[
  | 'apiKeyCreate'
  | 'apiKeyFind'
  | 'apiKeyGet'
  | 'apiKeyList'
  | 'apiKeyRotate'
  | 'apiKeyRevoke'
  | 'apiKeyTouch'
  | 'refreshCreate'
  | 'refreshRotate'
  | 'refreshAddAccess'
  | 'refreshFind'
  | 'refreshRevoke'];

/** The client members the credential store calls: its script commands. */
export type CredentialClient = ScriptCalls<CredentialCommand>;

const HEX_HASH = /^[0-9a-f]{64}$/;

/**
 * What the API-key and refresh-family halves of a `RedisCredentialStore` share: the connection,
 * the keys (`<base>ak:<id>`, `akh:<sha256>`, `akidx`, `rf:<id>`, `rfat:<id>`, `rt:<sha256>`, all
 * under one hash tag) and the store's clock and retention.
 *
 * @internal
 */
export class CredentialSpace {
  constructor(
    readonly connection: RedisConnection<CredentialClient>,
    private readonly keys: KeySpace,
    /** How long a record is kept after it expired, in ms. */
    readonly retentionMs: number,
    private readonly clock: Clock,
  ) {}

  /** The key of an untrusted id (encoded; hashed when too long). */
  key(kind: string, id: string): string {
    return this.keys.key(kind, id);
  }

  /** The key of a credential hash (64 hex digits, checked). */
  hashKey(kind: string, hash: string): string {
    return `${this.keys.base}${kind}${hexHash(hash)}`;
  }

  /** The key of a fixed name, e.g. the API-key list index. */
  fixedKey(name: string): string {
    return `${this.keys.base}${name}`;
  }

  /** The store's clock as a script argument. */
  nowArg(): string {
    return nowArg(this.clock.now(), OWNER);
  }

  /** When a record that expires at `expiresAt` may be forgotten: after the retention. */
  goneArg(expiresAt: number): string {
    return epochArg(
      epochNumber(expiresAt, 'expiresAt', OWNER) + this.retentionMs,
      'expiresAt',
      OWNER,
    );
  }
}

/** `value` if it is a credential hash: 64 lower-case hex digits. @throws TypeError otherwise. */
export function hexHash(value: unknown): string {
  if (typeof value !== 'string' || !HEX_HASH.test(value)) {
    throw new TypeError(`${OWNER}: a credential hash must be 64 lower-case hex digits`);
  }
  return value;
}

/** A stored JSON array of scopes, or `StoreUnavailableError`. */
export function scopesOf(json: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw unexpectedReply('scopes');
  }
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string')) {
    throw unexpectedReply('scopes');
  }
  return value as string[];
}

/** A required field of a stored record, or `StoreUnavailableError`. */
export function field(fields: Map<string, string>, name: string, what: string): string {
  const value = fields.get(name);
  if (value === undefined) throw unexpectedReply(what);
  return value;
}
