import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  systemClock,
  type Logger,
  type Clock,
  type ConsentGrant,
  type ConsentRecord,
  type ConsentWithdrawal,
  type EpochStore,
  type Invalidation,
  type InvalidationFeed,
  type MarkScope,
  type StoreEpoch,
  type StoreQuery,
  type StoreSnapshot,
  type SharedStore,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_WAIT_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_PREFIX,
  MAX_COMMAND_TIMEOUT_MS,
} from './defaults';
import { encodeInvalidation, RedisInvalidationFeed, type SubscriberView } from './invalidation';
import { KeySpace } from './keys';
import { COMMANDS, STORE_SCRIPTS, type ScriptCalls } from './scripts';
import { ConsentRecords, toRecord } from './store-consent';
import {
  checkedDurability,
  sendDurable,
  type StoreDurability,
  type WaitPipeline,
} from './store-durability';
import { EpochTracker, newEpochId, toEpoch } from './store-epoch';
import { ShardedEpoch } from './store-shards';
import { epochArg, epochMs, nowArg, strings, text, unexpectedReply } from './values';

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
   * bounds every call by `commandTimeoutMs` itself. The store defines its nine `tokenwarden*`
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
  /**
   * What the store does when Redis holds no epoch of the state and no record of a lost one (see
   * "State loss" in the README). `'create'`: the first store to read starts the first epoch, as a
   * new deployment needs. `'require'`: it never does, and refuses with `store_state_lost` until
   * `tokenwarden state init` (a new deployment) or `tokenwarden state restore` writes one; this
   * also catches a Redis that lost its state while every node restarted with it. Either way a
   * store that knew an epoch never accepts another one written over a lost state.
   * Default: `'create'`.
   */
  epoch?: 'create' | 'require';
  /**
   * Acknowledged means replicated: after every revocation (`revokeToken`, `setNotBefore`) and
   * consent withdrawal the store sends `WAIT replicas timeoutMs` on the same connection (on a
   * Cluster, to the master of the written key), and rejects with `StoreNotReplicatedError`
   * (`store_unavailable`) when fewer replicas acknowledged the write in time. Such a call may take
   * up to `commandTimeoutMs + timeoutMs`; a client passed in needs a `commandTimeout` at least that
   * long. Default: not set (a write is reported once the primary applied it).
   */
  durability?: StoreDurability;
  /**
   * Where keys live. `'single'`: every key under one hash tag (`{tw}`), one slot, one shard.
   * `'sharded'`: the keys of one data subject (its revocations, its not-before mark, its consent
   * records) share the hash tag of its bucket, one of 64 whose slots are spread evenly over Redis
   * Cluster's masters; client and deployment marks and revocations by token id alone are copied
   * into every bucket, so a lookup is still one script on one shard. See "Sharding on Redis
   * Cluster" in the README. Default: `'single'`.
   */
  layout?: 'single' | 'sharded';
  /**
   * Longest wait, in ms, for the first connection before the first write (revocation, consent)
   * or epoch command of a fresh store, so an admin call or a CLI command made right after start
   * is not held to `commandTimeoutMs` while the connection is still being made (a busy machine,
   * a Redis still starting). Requests' lookups never wait for it. 0: no wait. Default: 2,000.
   */
  connectTimeoutMs?: number;
  /**
   * Where the store logs its connection's changes of state, once each: Redis unreachable, with
   * the cause (`ECONNREFUSED 127.0.0.1:6390`, `WRONGPASS`…, never the URL's password), and
   * Redis answering again. `false`: not logged. Default: stderr.
   */
  logger?: Pick<Logger, 'warn' | 'error'> | false;
}

const stderrLogger: Pick<Logger, 'warn' | 'error'> = {
  warn: (message) => console.warn(`[tokenwarden] ${message}`),
  error: (message) => console.error(`[tokenwarden] ${message}`),
};

/** The client members the store calls: its script commands and HMGET. */
export type StoreClient = ScriptCalls<
  (typeof COMMANDS)[
    | 'lookup'
    | 'raise'
    | 'grant'
    | 'withdraw'
    | 'consentGet'
    | 'heartbeat'
    | 'epochWrite'
    | 'epochCheck'
    | 'epochSpread']
> & {
  hmget(key: string, ...fields: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
  hset(key: string, field: string, value: string): Promise<unknown>;
  pipeline(): DurablePipeline;
};

/** A pipeline of the store's write scripts and WAIT (durable writes). */
export type DurablePipeline = WaitPipeline &
  Record<(typeof COMMANDS)['raise' | 'withdraw'], (...args: string[]) => WaitPipeline>;

/** What the parts of a {@link RedisStore} share. @internal */
export interface StoreContext {
  readonly connection: RedisConnection<StoreClient>;
  readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  readonly channel: string;
  /** The epoch of the state, as this store knows it. */
  readonly epoch: EpochTracker;
  /** The store's clock, as a script argument. */
  now(): string;
  /**
   * Resolves once this store knows the epoch it reads every bucket against (the `'sharded'`
   * layout joins it once; see {@link ShardedEpoch}); at once otherwise.
   */
  ready(): Promise<void>;
  /** Tells every bucket of a loss a read found in one of them (the `'sharded'` layout). */
  spreadLoss(id: string, lostAt: string): Promise<void>;
  /**
   * Runs one write script: alone, or followed by `WAIT` in one pipeline when the store has a
   * `durability` option and the write must be replicated.
   */
  write<T>(
    operation: string,
    script: (typeof COMMANDS)['raise' | 'withdraw'],
    args: readonly string[],
    parse: (reply: unknown) => T,
  ): Promise<T>;
}

const OWNER = 'RedisStore';

/**
 * The production store: revocation marks and consent records in Redis, shared by every node.
 * `lookup()` is one Lua script, so one round trip; every write is one atomic script. Revoked ids
 * and marks expire in Redis at the time they stop mattering (PEXPIREAT); consent records are kept.
 * Every Redis failure (refused connection, timeout, LOADING, READONLY, MASTERDOWN, an unexpected
 * reply) rejects with `StoreUnavailableError`, never with a guess.
 *
 * Every read of state checks the epoch of the state in the same script: once the epoch this store
 * read is gone or replaced (Redis restarted empty, flushed, failed over to a replica without the
 * writes), reads reject with `StoreStateLostError` on every node until `tokenwarden state restore`
 * or `tokenwarden state accept-loss` starts a new epoch. Writes go on: what they write is kept.
 *
 * @example
 * import { RedisStore } from '@tokenwarden/redis';
 * const store = new RedisStore({ url: process.env.REDIS_URL, prefix: 'billing-api:' });
 * const warden = createWarden({ jwt, store });
 */
export class RedisStore implements SharedStore, EpochStore {
  // ES private fields: `util.inspect(store)` must not print the connection's client, whose
  // options hold the URL's password, nor the feed, which holds another one.
  readonly #connection: RedisConnection<StoreClient>;
  readonly #consent: ConsentRecords;
  readonly #epoch: EpochTracker;
  readonly #shards: ShardedEpoch | undefined;
  #feed: RedisInvalidationFeed | undefined;
  private readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  private readonly channel: string;
  private readonly heartbeatMs: number;
  private readonly clock: Clock;
  private readonly durability: StoreDurability | undefined;
  private readonly connectWaitMs: number;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisStoreOptions) {
    this.durability = checkedDurability(options?.durability);
    const target = connectionTarget(options, {
      owner: OWNER,
      defaultTimeoutMs: DEFAULT_COMMAND_TIMEOUT_MS,
      waitMs: this.durability?.timeoutMs ?? 0,
      logger: options.logger === false ? undefined : (options.logger ?? stderrLogger),
    });
    this.connectWaitMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_WAIT_MS;
    if (
      !Number.isSafeInteger(this.connectWaitMs) ||
      this.connectWaitMs < 0 ||
      this.connectWaitMs > MAX_COMMAND_TIMEOUT_MS
    ) {
      throw new ConfigError(
        `RedisStore option 'connectTimeoutMs' must be an integer from 0 to ${MAX_COMMAND_TIMEOUT_MS}`,
      );
    }
    const layout = options.layout ?? 'single';
    if (layout !== 'single' && layout !== 'sharded') {
      throw new ConfigError(`RedisStore option 'layout' must be 'single' or 'sharded'`);
    }
    this.keys = new KeySpace(
      options.prefix ?? DEFAULT_PREFIX,
      options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
      layout,
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
    const mode = options.epoch ?? 'create';
    if (mode !== 'create' && mode !== 'require') {
      throw new ConfigError(`RedisStore option 'epoch' must be 'create' or 'require'`);
    }
    this.#epoch = new EpochTracker(mode, (lost) => this.#feed?.stateLost(lost));
    // Last: a client is opened only for valid options.
    this.#connection = new RedisConnection<StoreClient>(target);
    this.#connection.define(STORE_SCRIPTS);
    this.#shards =
      this.keys.buckets === undefined
        ? undefined
        : new ShardedEpoch(this.#connection, this.keys.buckets, this.#epoch, () =>
            nowArg(this.clock.now(), OWNER),
          );
    this.#consent = new ConsentRecords({
      connection: this.#connection,
      keys: this.keys,
      channel: this.channel,
      epoch: this.#epoch,
      now: () => nowArg(this.clock.now(), OWNER),
      write: (operation, script, args, parse) => this.write(operation, script, args, parse),
      ready: () => this.#shards?.join() ?? Promise.resolve(),
      spreadLoss: (id, lostAt) => this.#shards?.spreadLoss(id, lostAt) ?? Promise.resolve(),
    });
  }

  /**
   * Reads the revoked id, the three not-before marks and the asked-for consent record in one
   * script, after the epoch check. Rejects with `StoreStateLostError` once the state is lost.
   */
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
    if (this.#shards !== undefined) await this.#shards.join();
    // The subject's bucket ('sharded'), or the one key space ('single'): one slot either way.
    const space = this.keys.of(subject);
    // A consent record of another data subject in another bucket is read by a second script,
    // sent at the same time (two slots cannot be read by one script on a Cluster).
    const apart =
      consent !== undefined && this.keys.of(consent.subject) !== space ? consent : undefined;
    const together = apart === undefined ? consent : undefined;
    const separate =
      apart === undefined ? undefined : this.#consent.get(apart.subject, apart.purpose);
    // Settled here too, so a failed lookup leaves no unhandled rejection behind.
    separate?.catch(() => undefined);
    const all = space.allMark();
    const args = [
      space.revoked(tokenId),
      space.subjectMark(subject),
      client === undefined ? all : space.clientMark(client),
      all,
      together === undefined ? all : space.consent(together.subject, together.purpose),
      space.epoch(),
      nowArg(this.clock.now(), OWNER),
      client === undefined ? '0' : '1',
      together === undefined ? '0' : '1',
      ...this.#epoch.args(),
    ];
    const answer = await this.#connection.run(
      'lookup',
      (redis) => redis[COMMANDS.lookup](...args),
      (reply) => {
        const fields = strings(reply, 12, 'lookup');
        const lost = this.#epoch.settle(fields[9], fields[10], fields[11], 'lookup');
        if (lost !== undefined) return { lost, id: fields[10]!, lostAt: fields[11]! };
        const [revokedUntil, subjectAt, clientAt, allAt] = fields;
        if (revokedUntil !== '') epochMs(revokedUntil, 'lookup');
        const notBefore: { subject?: number; client?: number; all?: number } = {};
        if (subjectAt !== '') notBefore.subject = epochMs(subjectAt, 'lookup');
        if (clientAt !== '') notBefore.client = epochMs(clientAt, 'lookup');
        if (allAt !== '') notBefore.all = epochMs(allAt, 'lookup');
        const snapshot: StoreSnapshot = { tokenRevoked: revokedUntil !== '', notBefore };
        if (together === undefined || fields[4] === '') return snapshot;
        return {
          ...snapshot,
          consent: toRecord(together.subject, together.purpose, fields.slice(4, 9)),
        };
      },
    );
    // Thrown here, not in the parser, which maps what it throws to StoreUnavailableError.
    if ('lost' in answer) {
      if (this.#shards !== undefined && answer.lost.reason === 'lost') {
        await this.#shards.spreadLoss(answer.id, answer.lostAt);
      }
      throw answer.lost;
    }
    if (separate === undefined) return answer;
    const record = await separate;
    return record === undefined ? answer : { ...answer, consent: record };
  }

  /** Revokes a token id; the key expires (PEXPIREAT) at `expiresAt`. Never shortens a revocation. */
  async revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    const id = text(tokenId, 'tokenId', OWNER);
    const until = epochArg(expiresAt, 'expiresAt', OWNER);
    await this.connected();
    // Without the token's subject, the revocation goes to every bucket ('sharded').
    const keys = this.keys.all().map((space) => space.revoked(id));
    await this.raise('revokeToken', keys, until, until, { kind: 'token', id: tokenId });
  }

  /** Moves a not-before mark forward (never back); the key expires at the latest `keepUntil`. */
  async setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    // A subject's mark lives in its bucket; client and deployment marks in every bucket.
    let keys: string[];
    if (scope === 'all') keys = this.keys.all().map((space) => space.allMark());
    else if (scope === 'subject') {
      const subject = text(id, 'id', OWNER);
      keys = [this.keys.of(subject).subjectMark(subject)];
    } else if (scope === 'client') {
      const client = text(id, 'id', OWNER);
      keys = this.keys.all().map((space) => space.clientMark(client));
    } else throw new TypeError(`RedisStore: scope must be 'subject', 'client' or 'all'`);
    await this.connected();
    await this.raise(
      'setNotBefore',
      keys,
      epochArg(at, 'at', OWNER),
      epochArg(keepUntil, 'keepUntil', OWNER),
      scope === 'all' ? { kind: 'all' } : { kind: scope, id },
    );
  }

  /** Records a grant; the last withdrawal time is kept. */
  async grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    await this.connected();
    return this.#consent.grant(grant);
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  async withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    await this.connected();
    return this.#consent.withdraw(withdrawal);
  }

  /**
   * Reads one consent record (one script, after the epoch check), or `undefined`. Rejects with
   * `StoreStateLostError` once the state is lost.
   */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    return this.#consent.get(subject, purpose);
  }

  /**
   * The store's change feed: every write is announced on a pub/sub channel from inside its
   * script, and this subscription (a connection of its own, opened on first call) tells local
   * caches which entries to drop, and when to stop trusting themselves.
   */
  invalidations(): InvalidationFeed {
    if (this.#feed === undefined) {
      this.#feed = new RedisInvalidationFeed({
        subscriber: this.#connection.subscriber<SubscriberView>('tokenwarden-invalidations'),
        // Heartbeats go through the store's deadline: a frozen Redis stops the feed being live.
        // Each one checks the epoch too, so a FLUSHALL (which leaves every connection open)
        // empties and bypasses the caches within one heartbeat.
        publish: (channel, message) => this.heartbeat(channel, message),
        channel: this.channel,
        heartbeatChannel: `${this.channel}:hb:${randomBytes(6).toString('hex')}`,
        heartbeatMs: this.heartbeatMs,
      });
      if (this.#epoch.lost) this.#feed.stateLost(true);
    }
    return this.#feed;
  }

  /**
   * Reads the epoch of the state as Redis holds it (one HMGET). Changes nothing, and not what
   * this store knows either.
   */
  async readEpoch(): Promise<StoreEpoch> {
    const key = this.primaryEpoch();
    await this.connected();
    return this.#connection.run(
      'readEpoch',
      (redis) => redis.hmget(key, 'id', 'origin', 'since', 'lost', 'lostAt'),
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== 5) throw unexpectedReply('readEpoch');
        const fields = reply.map((value: unknown) => {
          if (value === null) return '';
          if (typeof value !== 'string') throw unexpectedReply('readEpoch');
          return value;
        });
        return toEpoch(fields, 'readEpoch');
      },
    );
  }

  /**
   * Writes the first epoch of a new deployment (origin `'initialized'`) when Redis holds neither
   * an epoch nor the record of a lost one; otherwise changes nothing (`written: false`).
   */
  async initializeEpoch(): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    await this.connected();
    const result = await this.writeEpoch('init', 'initialized');
    if (result.written && result.epoch.status === 'current') {
      await this.#shards?.spread(result.epoch, 'copy');
      this.#epoch.adopt(result.epoch.id);
    }
    return result;
  }

  /**
   * Starts a new epoch once the state was rebuilt (`'restored'`) or its loss accepted
   * (`'accepted'`). It replaces the record of the loss; every node adopts it on its next read or
   * heartbeat and serves again, and every local cache is emptied. Call it only once the state is
   * back: from then on, what Redis holds is trusted.
   */
  async renewEpoch(origin: 'restored' | 'accepted'): Promise<StoreEpoch> {
    if (origin !== 'restored' && origin !== 'accepted') {
      throw new TypeError(`RedisStore: origin must be 'restored' or 'accepted'`);
    }
    await this.connected();
    const { epoch } = await this.writeEpoch('renew', origin);
    if (epoch.status !== 'current') throw unexpectedReply('renewEpoch');
    await this.#shards?.spread(epoch, 'force');
    this.#epoch.adopt(epoch.id);
    return epoch;
  }

  /**
   * Gives a store of the `'sharded'` layout the epoch of the state it takes over (the one the
   * `'single'` layout's keys were read under, see `migrateKeyLayout`): written into every bucket
   * when Redis holds no epoch for this layout yet, else left as it is. Answers the epoch then in
   * force; `written` tells whether this call wrote it.
   *
   * @internal
   */
  async takeOverEpoch(
    epoch: StoreEpoch,
  ): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    const current = await this.readEpoch();
    if (this.#shards === undefined || epoch.status !== 'current' || current.status !== 'missing') {
      return { written: false, epoch: current };
    }
    await this.#shards.spread(epoch, 'copy');
    return { written: true, epoch: await this.readEpoch() };
  }

  /**
   * Resolves when Redis answers PING within `commandTimeoutMs` (not counting a wait for the first
   * connection), else rejects with `StoreUnavailableError` naming the cause (`no connection
   * (ECONNREFUSED)`, a timeout). For readiness probes (`warden.ready()`).
   */
  async ping(): Promise<void> {
    await this.#connection.run(
      'ping',
      (redis) => redis.ping(),
      (reply) => {
        if (reply !== 'PONG') throw unexpectedReply('ping');
      },
    );
  }

  /**
   * Stops using Redis. Quits the client only if the store opened it from `url`; a client passed
   * in stays open. Later calls reject with `StoreUnavailableError`. Idempotent.
   */
  close(): Promise<void> {
    return this.#connection.close(async () => this.#feed?.close());
  }

  /** Waits for the first connection (at most `connectTimeoutMs`) before a write or an epoch call. */
  private connected(): Promise<void> {
    return this.#connection.firstConnection(this.connectWaitMs);
  }

  /** Runs the epoch write script: 'init' or 'renew'. */
  private async writeEpoch(
    action: 'init' | 'renew',
    origin: 'initialized' | 'restored' | 'accepted',
  ): Promise<{ written: boolean; epoch: StoreEpoch }> {
    const args = [
      this.primaryEpoch(),
      action,
      newEpochId(),
      origin,
      nowArg(this.clock.now(), OWNER),
      this.channel,
      encodeInvalidation({ kind: 'reset' }),
    ];
    const operation = action === 'init' ? 'initializeEpoch' : 'renewEpoch';
    return this.#connection.run(
      operation,
      (redis) => redis[COMMANDS.epochWrite](...args),
      (reply) => {
        const [written, ...fields] = strings(reply, 6, operation);
        if (written !== '0' && written !== '1') throw unexpectedReply(operation);
        return { written: written === '1', epoch: toEpoch(fields, operation) };
      },
    );
  }

  /** One heartbeat of the feed: published with the epoch check (see `invalidations`). */
  private async heartbeat(channel: string, message: string): Promise<void> {
    if (this.#shards !== undefined) await this.#shards.join();
    const args = [
      this.primaryEpoch(),
      nowArg(this.clock.now(), OWNER),
      ...this.#epoch.args(),
      channel,
      message,
    ];
    await this.#connection.run(
      'heartbeat',
      (redis) => redis[COMMANDS.heartbeat](...args),
      (reply) => {
        const [status, id, lostAt] = strings(reply, 3, 'heartbeat');
        // A lost state is not a failed heartbeat: the feed learns of it through stateLost.
        this.#epoch.settle(status, id, lostAt, 'heartbeat');
      },
    );
  }

  /** The epoch hash heartbeats, `state` commands and the first read of a store check. */
  private primaryEpoch(): string {
    return this.keys.all()[0]!.epoch();
  }

  /**
   * Raises a mark or revoked id in each of `keys` (one, or one per bucket). The change is
   * announced by the last write only, once every other one is done, so no cache can refill from
   * a bucket not yet written after the announcement.
   */
  private async raise(
    operation: string,
    keys: readonly string[],
    at: string,
    keepUntil: string,
    change: Invalidation,
  ): Promise<void> {
    const now = nowArg(this.clock.now(), OWNER);
    const message = encodeInvalidation(change);
    const one = (key: string, announce: string) =>
      this.write(
        operation,
        COMMANDS.raise,
        [key, at, keepUntil, now, this.channel, announce],
        (reply) => {
          for (const value of strings(reply, 2, operation)) epochMs(value, operation);
        },
      );
    await Promise.all(keys.slice(0, -1).map((key) => one(key, '')));
    await one(keys[keys.length - 1]!, message);
  }

  /** See {@link StoreContext.write}. */
  private async write<T>(
    operation: string,
    script: (typeof COMMANDS)['raise' | 'withdraw'],
    args: readonly string[],
    parse: (reply: unknown) => T,
  ): Promise<T> {
    const durability = this.durability;
    if (durability === undefined) {
      return this.#connection.run(operation, (redis) => redis[script](...args), parse);
    }
    return this.#connection.run(
      operation,
      (redis) => {
        const pipeline = redis.pipeline();
        return sendDurable(pipeline, () => pipeline[script](...args), operation, durability);
      },
      parse,
      durability.timeoutMs,
    );
  }
}
