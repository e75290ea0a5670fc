import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import {
  API_KEY_TYPE,
  DEFAULT_ENVIRONMENT,
  generateCredential,
  hashCredential,
  isValidEnvironment,
  newPublicId,
} from '../internal/credential-format';
import { isScopeToken } from '../internal/scope';
import type { ApiKeyRecord, ApiKeyRotation, CredentialStore } from '../store/credential-types';
import {
  ApiKeyError,
  type ApiKeyClientRules,
  type ApiKeyRefusal,
  type ApiKeysOptions,
  type CreateApiKeyInput,
  type IssuedApiKey,
  type RotateApiKeyOptions,
} from './api-key-options';
import { checkedId, DAY_MS, formatDuration, msOption } from './lifecycle';

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
    this.maxAgeMs = msOption(options.maxAgeMs ?? 90 * DAY_MS, 'maxAgeMs');
    this.defaultAgeMs = msOption(options.defaultAgeMs ?? this.maxAgeMs, 'defaultAgeMs');
    this.defaultOverlapMs = msOption(options.defaultOverlapMs ?? DAY_MS, 'defaultOverlapMs', true);
    this.expiringSoonMs = msOption(options.expiringSoonMs ?? 7 * DAY_MS, 'expiringSoonMs');
    this.reportIntervalMs = msOption(options.reportIntervalMs ?? 3_600_000, 'reportIntervalMs');
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
    const overlapMs = msOption(options.overlapMs ?? this.defaultOverlapMs, 'overlapMs', true);
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
        : msOption(requested, 'expiresInMs');
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
      if (typeof s !== 'string' || !isScopeToken(s)) {
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

/** An id quoted for a message; something shaped like a credential is never echoed. */
function shown(id: string): string {
  return /^tw[kr]_/.test(id) ? '(a credential, not a key id)' : `'${id}'`;
}
