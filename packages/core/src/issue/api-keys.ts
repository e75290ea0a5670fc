import { createHash, randomBytes } from 'node:crypto';
import type { AuditEventInput } from '../audit/trail';
import { ConfigError, TokenwardenError, type ErrorCode } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { isSafeId } from '../internal/text';
import type { WardenMetrics } from '../metrics/types';
import type { Policy } from '../policy/types';
import type { Logger } from '../internal/logger';
import type { ApiKeyRecord, ApiKeyRotation, CredentialStore } from './credential-store';

/**
 * Opaque credentials (API keys and refresh tokens) share one format that secret scanners can
 * recognise and that catches typos without a store look-up:
 *
 * ```
 * twk_live_4eC39HqLyjWDarjtT1zdp7dc0K3hLzvQ1TMbXQ
 * └┬┘ └┬─┘ └──────────── 32 random ────────────┘└ 6 ┘
 * type env                                  checksum
 * ```
 *
 * - type: `twk` (API key) or `twr` (refresh token);
 * - env: 1–16 characters `[a-z0-9]`, starting with a letter (`live`, `test`, `staging`…);
 * - 32 base62 characters from the system CSPRNG (about 190 bits);
 * - a 6-character base62 CRC-32 of everything before it.
 */

/** The credential types the prefix tells apart. */
export type CredentialType = 'twk' | 'twr';

/** Prefix type of API keys. */
export const API_KEY_TYPE: CredentialType = 'twk';
/** Prefix type of refresh tokens. */
export const REFRESH_TOKEN_TYPE: CredentialType = 'twr';

/** Default environment in new credentials. */
export const DEFAULT_ENVIRONMENT = 'live';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const ENVIRONMENT = /^[a-z][a-z0-9]{0,15}$/;
const BODY = /^[0-9A-Za-z]+$/;
/** Longest credential the format allows: type, env, two separators and the body. */
export const MAX_CREDENTIAL_LENGTH = 3 + 16 + 2 + RANDOM_LENGTH + CHECKSUM_LENGTH;

/** A credential that passed the format and checksum check (it may still be unknown). */
export interface ParsedCredential {
  readonly type: CredentialType;
  readonly environment: string;
}

/** Why a string is not a well-formed credential; never includes the string. */
export type CredentialFormatError = 'format' | 'checksum';

/** True when `environment` can appear in a credential prefix. */
export function isValidEnvironment(environment: unknown): environment is string {
  return typeof environment === 'string' && ENVIRONMENT.test(environment);
}

/** `count` base62 characters from the CSPRNG, without modulo bias. */
function randomBase62(count: number): string {
  let out = '';
  while (out.length < count) {
    for (const byte of randomBytes(count * 2)) {
      // 248 = 4 × 62: bytes above it would favour the first characters.
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === count) break;
    }
  }
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of an ASCII string, as 6 base62 characters. */
function checksum(text: string): string {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  }
  let value = (crc ^ 0xffffffff) >>> 0;
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Generates a new credential of `type` for `environment`. */
export function generateCredential(type: CredentialType, environment: string): string {
  if (!isValidEnvironment(environment)) {
    throw new ConfigError(
      `environment '${String(environment)}' must be 1-16 characters [a-z0-9] starting with a letter (e.g. 'live', 'test')`,
    );
  }
  const head = `${type}_${environment}_${randomBase62(RANDOM_LENGTH)}`;
  return head + checksum(head);
}

/**
 * Checks a credential's format and checksum without any look-up: a mistyped or truncated key is
 * refused here. Never throws.
 */
export function parseCredential(
  credential: unknown,
):
  | { readonly ok: true; readonly value: ParsedCredential }
  | { readonly ok: false; readonly error: CredentialFormatError } {
  if (typeof credential !== 'string' || credential.length > MAX_CREDENTIAL_LENGTH) {
    return { ok: false, error: 'format' };
  }
  const parts = credential.split('_');
  if (parts.length !== 3) return { ok: false, error: 'format' };
  const [type, environment, body] = parts as [string, string, string];
  if (type !== API_KEY_TYPE && type !== REFRESH_TOKEN_TYPE) return { ok: false, error: 'format' };
  if (!ENVIRONMENT.test(environment)) return { ok: false, error: 'format' };
  if (body.length !== RANDOM_LENGTH + CHECKSUM_LENGTH || !BODY.test(body)) {
    return { ok: false, error: 'format' };
  }
  const head = credential.slice(0, credential.length - CHECKSUM_LENGTH);
  if (checksum(head) !== credential.slice(-CHECKSUM_LENGTH))
    return { ok: false, error: 'checksum' };
  return { ok: true, value: { type, environment } };
}

/** SHA-256 of a credential, lower-case hex: what stores keep instead of the credential. */
export function hashCredential(credential: string): string {
  return createHash('sha256').update(credential, 'utf8').digest('hex');
}

/** A new public id: `prefix` plus 20 base62 characters. */
export function newPublicId(prefix: 'ak' | 'rf' | 'rt'): string {
  return `${prefix}_${randomBase62(20)}`;
}

/** Where lifecycle events go: a `Warden` or `WardenAdmin` has this method. */
export interface AuditRecorder {
  recordEvent(event: AuditEventInput): void;
}

/** Revokes tokens by id: a `Warden` or `WardenAdmin` has this method. */
export interface TokenRevoker {
  revokeToken(
    tokenId: string,
    options?: { readonly expiresAt?: number; readonly actor?: string; readonly reason?: string },
  ): Promise<void>;
}

/** Per-client limits on API keys, e.g. from the policy file. */
export interface ApiKeyClientRules {
  /** Scopes keys of this client may carry. Absent: any scope. */
  readonly allowedScopes?: readonly string[];
  /** Longest a key of this client may live, in ms. Absent: the global maximum. */
  readonly maxAgeMs?: number;
}

/** Options of {@link ApiKeys}. */
export interface ApiKeysOptions {
  /** Where key records go (hashes only). */
  readonly store: CredentialStore;
  /** Lifecycle audit events (`apikey.created|rotated|revoked`). Default: none. */
  readonly audit?: AuditRecorder;
  /**
   * Also revokes a revoked key's id in the warden's revocation list (until the key's expiry), so
   * nodes that cache verified credentials refuse it as fast as any revoked token: the warden, or
   * `createAdmin` over the store the API nodes read. Default: none (the key record alone).
   */
  readonly revoker?: TokenRevoker;
  /** For the `tokenwarden_api_keys_expiring_soon` gauge. Default: none. */
  readonly metrics?: Pick<WardenMetrics, 'apiKeysExpiringSoon'>;
  /** Environment in new keys' prefix. Default: `'live'`. */
  readonly environment?: string;
  /** Longest any key may live, in ms; every key expires. Default: 90 days. */
  readonly maxAgeMs?: number;
  /** Lifetime of a new key when none is asked for, in ms. Default: `maxAgeMs`. */
  readonly defaultAgeMs?: number;
  /** How long the old key keeps working after a rotation, in ms. Default: 24 h. */
  readonly defaultOverlapMs?: number;
  /**
   * Per-client rules (allowed scopes, maximum age), e.g. from the policy file. Return
   * `undefined` for a client without rules; throw a ConfigError to refuse unknown clients.
   */
  readonly clientRules?: (client: string) => ApiKeyClientRules | undefined;
  /** Window of the expiring-soon count, in ms. Default: 7 days. */
  readonly expiringSoonMs?: number;
  /** How often {@link ApiKeys.start} recounts the expiring-soon gauge, in ms. Default: 1 hour. */
  readonly reportIntervalMs?: number;
  /** Warnings when a scheduled count fails. Default: stderr. */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The API-key settings a policy file drives: the global maximum age (`limits.maxApiKeyAge`), and
 * per client its allowed scopes and `apiKeyMaxAge`. A client missing from the policy is refused.
 *
 * @example
 * const apiKeys = new ApiKeys({ store, audit: warden, ...apiKeyOptionsFromPolicy(policy) });
 */
export function apiKeyOptionsFromPolicy(
  policy: Policy,
): Required<Pick<ApiKeysOptions, 'maxAgeMs' | 'clientRules'>> {
  return {
    maxAgeMs: policy.limits.maxApiKeyAgeMs,
    clientRules: (client) => {
      const rules = Object.prototype.hasOwnProperty.call(policy.clients, client)
        ? policy.clients[client]
        : undefined;
      if (rules === undefined) {
        throw new ConfigError(
          `client '${client}' is not in the policy; add it under 'clients' (declared: ${Object.keys(policy.clients).join(', ') || 'none'})`,
        );
      }
      return { allowedScopes: rules.scopes, maxAgeMs: rules.apiKeyMaxAgeMs };
    },
  };
}

/** What to create. */
export interface CreateApiKeyInput {
  readonly client: string;
  /** Subject of the principal the key yields. Default: the client. */
  readonly subject?: string;
  readonly scopes: readonly string[];
  /** Lifetime in ms; capped by the maximum age. Default: the default age. */
  readonly expiresInMs?: number;
  /** A label for people. */
  readonly name?: string;
  /** Who created it, for the audit trail. */
  readonly actor?: string;
}

/** Options of {@link ApiKeys.rotate}. */
export interface RotateApiKeyOptions {
  /** How long the old key keeps working, in ms. Default: the configured overlap (24 h). */
  readonly overlapMs?: number;
  /** Lifetime of the new key in ms; capped by the maximum age. Default: the old key's lifetime. */
  readonly expiresInMs?: number;
  readonly actor?: string;
}

/** A new key: `key` is shown once and never stored; keep it now. */
export interface IssuedApiKey {
  /** The API key itself. Give it to the client; it cannot be recovered later. */
  readonly key: string;
  /** The stored record (hash only). */
  readonly record: ApiKeyRecord;
}

/** Why an API-key operation was refused. */
export type ApiKeyRefusal = 'not_found' | 'revoked' | 'expired' | 'replaced';

const REFUSAL_CODES = {
  not_found: 'api_key_unknown',
  revoked: 'api_key_revoked',
  expired: 'api_key_expired',
  replaced: 'api_key_replaced',
} as const satisfies Record<ApiKeyRefusal, ErrorCode>;

/**
 * An API-key operation refused for a reason the caller should show: `api_key_unknown`,
 * `api_key_revoked`, `api_key_expired` or `api_key_replaced`.
 */
export class ApiKeyError extends TokenwardenError {
  declare readonly code: (typeof REFUSAL_CODES)[ApiKeyRefusal];
  /** @deprecated Switch on {@link ApiKeyError.code}; `reason` is its older spelling. */
  readonly reason: ApiKeyRefusal;

  constructor(reason: ApiKeyRefusal, message: string) {
    super(REFUSAL_CODES[reason], message);
    this.reason = reason;
  }
}

const DAY = 24 * 3_600_000;
// RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const MAX_ID_LENGTH = 256;

/**
 * API keys for machine clients that cannot use JWTs: random, prefixed, checksummed, stored only
 * as a SHA-256 hash, always expiring, rotated with an overlap window, revoked at once. Each change
 * is an audit event naming the key id, never the key.
 *
 * @example
 * const apiKeys = new ApiKeys({ store: new RedisCredentialStore({ url }), audit: warden });
 * const { key, record } = await apiKeys.create({ client: 'billing-export', scopes: ['orders:read'] });
 * // show `key` once; record.keyId identifies it from now on
 */
export class ApiKeys {
  private readonly store: CredentialStore;
  private readonly clock: Clock;
  private readonly environment: string;
  private readonly maxAgeMs: number;
  private readonly defaultAgeMs: number;
  private readonly defaultOverlapMs: number;
  private readonly expiringSoonMs: number;
  private readonly reportIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private reporting: Promise<unknown> | undefined;

  constructor(private readonly options: ApiKeysOptions) {
    if (options === null || typeof options !== 'object' || options.store === undefined) {
      throw new ConfigError('ApiKeys needs { store }: a CredentialStore shared with the API nodes');
    }
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.environment = options.environment ?? DEFAULT_ENVIRONMENT;
    if (!isValidEnvironment(this.environment)) {
      throw new ConfigError(
        "ApiKeys option 'environment' must be 1-16 characters [a-z0-9] starting with a letter",
      );
    }
    this.maxAgeMs = duration(options.maxAgeMs ?? 90 * DAY, 'maxAgeMs');
    this.defaultAgeMs = duration(options.defaultAgeMs ?? this.maxAgeMs, 'defaultAgeMs');
    this.defaultOverlapMs = duration(options.defaultOverlapMs ?? DAY, 'defaultOverlapMs', true);
    this.expiringSoonMs = duration(options.expiringSoonMs ?? 7 * DAY, 'expiringSoonMs');
    this.reportIntervalMs = duration(options.reportIntervalMs ?? 3_600_000, 'reportIntervalMs');
  }

  /**
   * Keeps `tokenwarden_api_keys_expiring_soon` current in a running service: counts now, then
   * every `reportIntervalMs` (an unref'd timer, so it never holds the process open). A failed
   * count is a warning; the next one tries again. Any one process per deployment is enough (the
   * count is of the shared store; the gauge aggregates by max). Stop it with {@link close}.
   *
   * @example
   * const apiKeys = new ApiKeys({ store: credentials, metrics: warden.metrics, reportIntervalMs: 15 * 60_000 });
   * await apiKeys.start();
   */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.scheduledReport(), this.reportIntervalMs);
    this.timer.unref();
    await this.scheduledReport();
  }

  /** Stops the scheduled count started by {@link start}; waits for one in flight. Idempotent. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.reporting;
  }

  private scheduledReport(): Promise<unknown> {
    // A slow store never stacks counts: one at a time.
    this.reporting ??= this.reportExpiringSoon()
      .catch((error: unknown) => {
        (this.options.logger ?? console).warn(
          'API keys expiring soon: the count failed; the gauge keeps its last value',
          { error: error instanceof Error ? error.message : String(error) },
        );
      })
      .finally(() => {
        this.reporting = undefined;
      });
    return this.reporting;
  }

  /** Creates a key. The returned `key` is the only copy: it is stored as a hash. Audited. */
  async create(input: CreateApiKeyInput): Promise<IssuedApiKey> {
    const client = checkedId(input.client, 'client');
    const subject = input.subject === undefined ? client : checkedId(input.subject, 'subject');
    const name = input.name === undefined ? undefined : checkedId(input.name, 'name');
    const rules = this.options.clientRules?.(client);
    const scopes = this.checkedScopes(input.scopes, client, rules);
    const now = this.clock.now();
    const record = this.newRecord({
      client,
      subject,
      scopes,
      name,
      now,
      expiresAt: now + this.lifetime(input.expiresInMs, rules),
    });
    const { key, record: stored } = await this.storeNew(record);
    this.options.audit?.recordEvent({
      type: 'apikey.created',
      outcome: 'success',
      tokenId: stored.keyId,
      subject: stored.subject,
      client: stored.client,
      scopes: stored.scopes,
      actor: input.actor,
      detail: { expiresAt: stored.expiresAt, environment: stored.environment },
    });
    return { key, record: stored };
  }

  /**
   * Replaces a key with a new one carrying the same client, subject, scopes and name. The old key
   * keeps working for the overlap window (at most until its own expiry), so clients can switch
   * without downtime. Throws {@link ApiKeyError} for a missing, revoked, expired or already
   * rotated key. Audited.
   */
  async rotate(
    keyId: string,
    options: RotateApiKeyOptions = {},
  ): Promise<IssuedApiKey & { readonly previous: ApiKeyRecord }> {
    const old = await this.store.getApiKey(checkedId(keyId, 'keyId'));
    if (old === undefined) throw new ApiKeyError('not_found', `no API key with id ${shown(keyId)}`);
    const rules = this.options.clientRules?.(old.client);
    const overlapMs = duration(options.overlapMs ?? this.defaultOverlapMs, 'overlapMs', true);
    const now = this.clock.now();
    const key = generateCredential(API_KEY_TYPE, old.environment);
    const next = this.newRecord({
      client: old.client,
      subject: old.subject,
      scopes: old.scopes,
      name: old.name,
      now,
      expiresAt: now + this.lifetime(options.expiresInMs, rules, old.expiresAt - old.createdAt),
      environment: old.environment,
      hash: hashCredential(key),
    });
    let result: ApiKeyRotation;
    try {
      result = await this.store.rotateApiKey(old.keyId, next, now + overlapMs, now);
    } catch (error) {
      this.options.audit?.recordEvent({
        type: 'apikey.rotated',
        outcome: 'failure',
        reason: 'store_unavailable',
        tokenId: old.keyId,
        client: old.client,
        actor: options.actor,
      });
      throw error;
    }
    if (result.status !== 'rotated') {
      throw new ApiKeyError(
        result.status,
        `API key '${old.keyId}' cannot be rotated: ${explain(result.status)}`,
      );
    }
    const record: ApiKeyRecord = { ...next, replaces: old.keyId };
    this.options.audit?.recordEvent({
      type: 'apikey.rotated',
      outcome: 'success',
      tokenId: record.keyId,
      subject: record.subject,
      client: record.client,
      scopes: record.scopes,
      actor: options.actor,
      detail: {
        previousKeyId: old.keyId,
        previousExpiresAt: result.previous.expiresAt,
        expiresAt: record.expiresAt,
      },
    });
    return { key, record, previous: result.previous };
  }

  /**
   * Revokes a key at once (and its id in the revocation list, with a `revoker`). Throws
   * {@link ApiKeyError} when there is no such key. Audited.
   */
  async revoke(
    keyId: string,
    options: { readonly actor?: string; readonly reason?: string } = {},
  ): Promise<ApiKeyRecord> {
    const id = checkedId(keyId, 'keyId');
    let record: ApiKeyRecord | undefined;
    try {
      record = await this.store.revokeApiKey(id, this.clock.now());
    } catch (error) {
      this.options.audit?.recordEvent({
        type: 'apikey.revoked',
        outcome: 'failure',
        reason: 'store_unavailable',
        tokenId: id,
        actor: options.actor,
      });
      throw error;
    }
    if (record === undefined) throw new ApiKeyError('not_found', `no API key with id ${shown(id)}`);
    await this.options.revoker?.revokeToken(record.keyId, {
      expiresAt: record.expiresAt,
      actor: options.actor,
      reason: options.reason,
    });
    this.options.audit?.recordEvent({
      type: 'apikey.revoked',
      outcome: 'success',
      tokenId: record.keyId,
      subject: record.subject,
      client: record.client,
      actor: options.actor,
      detail: options.reason === undefined ? undefined : { reason: options.reason },
    });
    return record;
  }

  /** One key's record, or `undefined`. */
  get(keyId: string): Promise<ApiKeyRecord | undefined> {
    return this.store.getApiKey(checkedId(keyId, 'keyId'));
  }

  /** Every retained key (optionally of one client), oldest first. */
  async list(filter: { readonly client?: string } = {}): Promise<ApiKeyRecord[]> {
    const all = await this.store.listApiKeys();
    return filter.client === undefined ? all : all.filter((k) => k.client === filter.client);
  }

  /**
   * Counts the usable keys (not revoked) that expire within the expiring-soon window, and sets
   * the `tokenwarden_api_keys_expiring_soon` gauge to it.
   */
  async reportExpiringSoon(): Promise<number> {
    const now = this.clock.now();
    const count = (await this.store.listApiKeys()).filter(
      (k) =>
        k.revokedAt === undefined && k.expiresAt > now && k.expiresAt <= now + this.expiringSoonMs,
    ).length;
    this.options.metrics?.apiKeysExpiringSoon(count);
    return count;
  }

  private async storeNew(record: Omit<ApiKeyRecord, 'hash'>): Promise<IssuedApiKey> {
    // A collision of 190 random bits does not happen; the loop only guards the contract.
    for (let attempt = 0; attempt < 3; attempt++) {
      const key = generateCredential(API_KEY_TYPE, record.environment);
      const full: ApiKeyRecord = { ...record, hash: hashCredential(key) };
      if (await this.store.createApiKey(full)) return { key, record: full };
    }
    throw new Error('ApiKeys: could not store a new key (id collision)');
  }

  private newRecord(input: {
    client: string;
    subject: string;
    scopes: readonly string[];
    name: string | undefined;
    now: number;
    expiresAt: number;
    environment?: string;
    hash?: string;
  }): ApiKeyRecord {
    return {
      keyId: newPublicId('ak'),
      hash: input.hash ?? '',
      client: input.client,
      subject: input.subject,
      scopes: [...input.scopes],
      environment: input.environment ?? this.environment,
      ...(input.name === undefined ? {} : { name: input.name }),
      createdAt: input.now,
      expiresAt: input.expiresAt,
    };
  }

  /** The lifetime asked for, else `fallback` (within the cap), else the default age. */
  private lifetime(
    requested: number | undefined,
    rules: ApiKeyClientRules | undefined,
    fallback?: number,
  ): number {
    const cap = Math.min(this.maxAgeMs, rules?.maxAgeMs ?? Infinity);
    const ms =
      requested === undefined
        ? Math.min(fallback ?? this.defaultAgeMs, cap)
        : duration(requested, 'expiresInMs');
    if (ms > cap) {
      throw new ConfigError(
        `an API key may live at most ${formatDuration(cap)}; ask for a shorter lifetime`,
      );
    }
    return ms;
  }

  private checkedScopes(
    scopes: readonly string[],
    client: string,
    rules: ApiKeyClientRules | undefined,
  ): readonly string[] {
    if (!Array.isArray(scopes)) throw new ConfigError('scopes must be an array of scope names');
    const out = [...new Set(scopes)];
    for (const s of out) {
      if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) {
        throw new ConfigError(`scope '${String(s)}' is not a valid scope name`);
      }
      if (rules?.allowedScopes !== undefined && !rules.allowedScopes.includes(s)) {
        throw new ConfigError(
          `client '${client}' may not hold scope '${s}' (allowed: ${rules.allowedScopes.join(', ') || 'none'})`,
        );
      }
    }
    return out;
  }
}

function explain(status: ApiKeyRefusal): string {
  switch (status) {
    case 'not_found':
      return 'no such key';
    case 'revoked':
      return 'it is revoked';
    case 'expired':
      return 'it has expired; create a new key';
    case 'replaced':
      return 'it was already rotated; rotate its replacement';
  }
}

/** Options of {@link ApiKeyUsage}. */
export interface ApiKeyUsageOptions {
  readonly store: Pick<CredentialStore, 'touchApiKeys'>;
  /** How often last-used times are written, in ms; the timer is unref'd. Default: 60000. */
  readonly flushIntervalMs?: number;
  /** Called when a flush fails (the times are kept for the next flush). Default: ignore. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Tracks when each API key was last used without a store write per request: uses are kept in
 * memory (one entry per key) and written in one batch every `flushIntervalMs`. A key's last-used
 * time in the store is at most one interval behind.
 */
export class ApiKeyUsage {
  private pending = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: ApiKeyUsageOptions) {
    const every = duration(options.flushIntervalMs ?? 60_000, 'flushIntervalMs');
    this.timer = setInterval(() => void this.flush(), every);
    this.timer.unref();
  }

  /** Notes a use of `keyId` at `at` (epoch ms). Memory only; never throws. */
  record(keyId: string, at: number): void {
    const previous = this.pending.get(keyId);
    if (previous === undefined || previous < at) this.pending.set(keyId, at);
  }

  /** Uses noted but not yet written. */
  get size(): number {
    return this.pending.size;
  }

  /** Writes the noted uses in one store call. A failed write keeps them for the next flush. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.options.store
      .touchApiKeys([...batch].map(([keyId, at]) => ({ keyId, at })))
      .catch((error: unknown) => {
        for (const [keyId, at] of batch) this.record(keyId, at);
        this.options.onError?.(error);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  /** Stops the timer and writes what is pending. Idempotent. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/** An id quoted for a message; something shaped like a credential is never echoed. */
function shown(id: string): string {
  return /^tw[kr]_/.test(id) ? '(a credential, not a key id)' : `'${id}'`;
}

function checkedId(value: unknown, name: string): string {
  if (!isSafeId(value, MAX_ID_LENGTH)) {
    throw new TypeError(
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} printable characters`,
    );
  }
  return value;
}

function duration(value: number, name: string, zero = false): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    (!zero && value === 0)
  ) {
    throw new ConfigError(
      `'${name}' must be a ${zero ? 'non-negative' : 'positive'} integer number of ms`,
    );
  }
  return value;
}

/** A duration in the largest whole unit (days, hours, minutes, else ms). */
export function formatDuration(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms} ms`;
}
