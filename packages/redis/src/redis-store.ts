import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  systemClock,
  type Clock,
  type ConsentGrant,
  type ConsentRecord,
  type ConsentWithdrawal,
  type Invalidation,
  type InvalidationFeed,
  type MarkScope,
  type StoreQuery,
  type StoreSnapshot,
  type SharedStore,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_PREFIX,
} from './defaults';
import { encodeInvalidation, RedisInvalidationFeed, type SubscriberView } from './invalidation';
import { KeySpace } from './keys';
import { COMMANDS, STORE_SCRIPTS, type ScriptCalls } from './scripts';
import { ConsentRecords, toRecord } from './store-consent';
import { epochArg, epochMs, nowArg, strings, text } from './values';

/** Options of {@link RedisStore}. Pass exactly one of `url` and `client`. */
export interface RedisStoreOptions {
  /**
   * A `redis://` or `rediss://` URL. The store then opens its own fail-fast client (no offline
   * queue, one retry per command, `commandTimeout`, reconnect delay capped at 1 s, an `error`
   * listener) and closes it in `close()`. Mutually exclusive with `client`.
   */
  url?: string;
  /**
   * An ioredis `Redis` or `Cluster` you own. It is used as is and never closed by the store; set
   * `commandTimeout` (and ideally `enableOfflineQueue: false`) on it, although the store also
   * bounds every call by `commandTimeoutMs` itself. The store defines its four `tokenwarden*`
   * script commands on it. Mutually exclusive with `url`.
   */
  client?: Redis | Cluster;
  /**
   * Prefix of every key. Without braces the `{tw}` hash tag is appended (`tokenwarden:{tw}:`), so
   * all keys share one cluster slot; a prefix may instead carry its own tag, e.g. `app:{tenant1}:`.
   * At most 128 bytes. Default: `'tokenwarden:'`.
   */
  prefix?: string;
  /**
   * Deadline of each store call, in ms, including the wait for a (re)connecting client. A call
   * that misses it rejects with `StoreUnavailableError`. Default: 200.
   */
  commandTimeoutMs?: number;
  /**
   * Longest key, in bytes. A key that would be longer carries the SHA-256 of the encoded id
   * instead of the id, so hostile ids of any length cost a bounded key. Default: 256.
   */
  maxKeyLength?: number;
  /**
   * How often, in ms, the store checks that its invalidation subscription still delivers (it
   * publishes a heartbeat on its own channel and expects it back). Local caches are emptied and
   * bypassed when a heartbeat cannot be published or none came back for two intervals, which
   * bounds how long a node cut off from Redis serves cached state. Default: 250.
   */
  heartbeatMs?: number;
  /**
   * Time source for "is this entry still live". Redis also drops entries itself (PEXPIREAT) at
   * the same epoch-ms times. Default: the system clock.
   */
  clock?: Clock;
}

/** The client members the store calls: its four script commands, HMGET and PUBLISH. */
export type StoreClient = ScriptCalls<
  (typeof COMMANDS)['lookup' | 'raise' | 'grant' | 'withdraw']
> & {
  hmget(key: string, ...fields: string[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
};

/** What the parts of a {@link RedisStore} share. @internal */
export interface StoreContext {
  readonly connection: RedisConnection<StoreClient>;
  readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  readonly channel: string;
}

const OWNER = 'RedisStore';

/**
 * The production store: revocation marks and consent records in Redis, shared by every node.
 * `lookup()` is one Lua script, so one round trip; every write is one atomic script. Revoked ids
 * and marks expire in Redis at the time they stop mattering (PEXPIREAT); consent records are kept.
 * Every Redis failure (refused connection, timeout, LOADING, READONLY, MASTERDOWN, an unexpected
 * reply) rejects with `StoreUnavailableError`, never with a guess.
 *
 * @example
 * import { RedisStore } from '@tokenwarden/redis';
 * const store = new RedisStore({ url: process.env.REDIS_URL, prefix: 'billing-api:' });
 * const warden = createWarden({ jwt, store });
 */
export class RedisStore implements SharedStore {
  // ES private fields: `util.inspect(store)` must not print the connection's client, whose
  // options hold the URL's password, nor the feed, which holds another one.
  readonly #connection: RedisConnection<StoreClient>;
  readonly #consent: ConsentRecords;
  #feed: RedisInvalidationFeed | undefined;
  private readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  private readonly channel: string;
  private readonly heartbeatMs: number;
  private readonly clock: Clock;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisStoreOptions) {
    const target = connectionTarget(options, {
      owner: OWNER,
      defaultTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
    });
    this.keys = new KeySpace(
      options.prefix ?? DEFAULT_PREFIX,
      options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
    );
    this.channel = this.keys.base + 'invalidate';
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (!Number.isSafeInteger(this.heartbeatMs) || this.heartbeatMs < 10) {
      throw new ConfigError(`RedisStore option 'heartbeatMs' must be an integer of at least 10`);
    }
    this.clock = options.clock ?? systemClock;
    if (typeof this.clock?.now !== 'function') {
      throw new ConfigError(`RedisStore option 'clock' must have a now() method`);
    }
    // Last: a client is opened only for valid options.
    this.#connection = new RedisConnection<StoreClient>(target);
    this.#connection.define(STORE_SCRIPTS);
    this.#consent = new ConsentRecords({
      connection: this.#connection,
      keys: this.keys,
      channel: this.channel,
    });
  }

  /** Reads the revoked id, the three not-before marks and the asked-for consent record in one script. */
  async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    const tokenId = text(query.tokenId, 'tokenId', OWNER);
    const subject = text(query.subject, 'subject', OWNER);
    const client = query.client === undefined ? undefined : text(query.client, 'client', OWNER);
    const consent =
      query.consent === undefined
        ? undefined
        : {
            subject: text(query.consent.subject, 'consent.subject', OWNER),
            purpose: text(query.consent.purpose, 'consent.purpose', OWNER),
          };
    const all = this.keys.allMark();
    const args = [
      this.keys.revoked(tokenId),
      this.keys.subjectMark(subject),
      client === undefined ? all : this.keys.clientMark(client),
      all,
      consent === undefined ? all : this.keys.consent(consent.subject, consent.purpose),
      nowArg(this.clock.now(), OWNER),
      client === undefined ? '0' : '1',
      consent === undefined ? '0' : '1',
    ];
    return this.#connection.run(
      'lookup',
      (redis) => redis[COMMANDS.lookup](...args),
      (reply) => {
        const fields = strings(reply, 9, 'lookup');
        const [revokedUntil, subjectAt, clientAt, allAt] = fields;
        if (revokedUntil !== '') epochMs(revokedUntil, 'lookup');
        const notBefore: { subject?: number; client?: number; all?: number } = {};
        if (subjectAt !== '') notBefore.subject = epochMs(subjectAt, 'lookup');
        if (clientAt !== '') notBefore.client = epochMs(clientAt, 'lookup');
        if (allAt !== '') notBefore.all = epochMs(allAt, 'lookup');
        const snapshot: StoreSnapshot = { tokenRevoked: revokedUntil !== '', notBefore };
        if (consent === undefined || fields[4] === '') return snapshot;
        return {
          ...snapshot,
          consent: toRecord(consent.subject, consent.purpose, fields.slice(4)),
        };
      },
    );
  }

  /** Revokes a token id; the key expires (PEXPIREAT) at `expiresAt`. Never shortens a revocation. */
  async revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    const key = this.keys.revoked(text(tokenId, 'tokenId', OWNER));
    const until = epochArg(expiresAt, 'expiresAt', OWNER);
    await this.raise('revokeToken', key, until, until, { kind: 'token', id: tokenId });
  }

  /** Moves a not-before mark forward (never back); the key expires at the latest `keepUntil`. */
  async setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    let key: string;
    if (scope === 'all') key = this.keys.allMark();
    else if (scope === 'subject') key = this.keys.subjectMark(text(id, 'id', OWNER));
    else if (scope === 'client') key = this.keys.clientMark(text(id, 'id', OWNER));
    else throw new TypeError(`RedisStore: scope must be 'subject', 'client' or 'all'`);
    await this.raise(
      'setNotBefore',
      key,
      epochArg(at, 'at', OWNER),
      epochArg(keepUntil, 'keepUntil', OWNER),
      scope === 'all' ? { kind: 'all' } : { kind: scope, id },
    );
  }

  /** Records a grant; the last withdrawal time is kept. */
  grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    return this.#consent.grant(grant);
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    return this.#consent.withdraw(withdrawal);
  }

  /** Reads one consent record (one HMGET), or `undefined`. */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.#consent.get(subject, purpose);
  }

  /**
   * The store's change feed: every write is announced on a pub/sub channel from inside its
   * script, and this subscription (a connection of its own, opened on first call) tells local
   * caches which entries to drop, and when to stop trusting themselves.
   */
  invalidations(): InvalidationFeed {
    this.#feed ??= new RedisInvalidationFeed({
      subscriber: this.#connection.subscriber<SubscriberView>('tokenwarden-invalidations'),
      // Heartbeats go through the store's deadline: a frozen Redis stops the feed being live.
      publish: (channel, message) =>
        this.#connection.run('heartbeat', (redis) => redis.publish(channel, message)),
      channel: this.channel,
      heartbeatChannel: `${this.channel}:hb:${randomBytes(6).toString('hex')}`,
      heartbeatMs: this.heartbeatMs,
    });
    return this.#feed;
  }

  /**
   * Stops using Redis. Quits the client only if the store opened it from `url`; a client passed
   * in stays open. Later calls reject with `StoreUnavailableError`. Idempotent.
   */
  close(): Promise<void> {
    return this.#connection.close(async () => this.#feed?.close());
  }

  private async raise(
    operation: string,
    key: string,
    at: string,
    keepUntil: string,
    change: Invalidation,
  ): Promise<void> {
    const now = nowArg(this.clock.now(), OWNER);
    const message = encodeInvalidation(change);
    await this.#connection.run(
      operation,
      (redis) => redis[COMMANDS.raise](key, at, keepUntil, now, this.channel, message),
      (reply) => {
        for (const value of strings(reply, 2, operation)) epochMs(value, operation);
      },
    );
  }
}
