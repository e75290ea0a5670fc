import { randomBytes } from 'node:crypto';
import type {
  ConsentGrant,
  ConsentRecord,
  ConsentWithdrawal,
  EpochStore,
  InvalidationFeed,
  MarkScope,
  SharedStore,
  StoreEpoch,
  StoreQuery,
  StoreSnapshot,
  SubjectKeyStore,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { RedisConnection } from './connection';
import { DEFAULT_PREFIX } from './defaults';
import { RedisInvalidationFeed, type SubscriberView } from './invalidation';
import { STORE_SCRIPTS } from './scripts';
import { ConsentRecords } from './store-consent';
import type { StoreClient, StoreContext } from './store-context';
import { EpochTracker } from './store-epoch';
import { StoreLookup } from './store-lookup';
import { resolveStoreOptions, type RedisStoreOptions } from './store-options';
import { ShardedEpoch } from './store-shards';
import { NAMING_SCRIPT, NamingCheck } from './store-naming';
import { StoreState } from './store-state';
import { RevocationWrites, scriptWriter } from './store-writes';
import { RedisSubjectKeyStore } from './subject-key-store';
import { nowArg, unexpectedReply } from './values';

export type { RedisStoreOptions } from './store-options';

const OWNER = 'RedisStore';

/**
 * The production store: revocation marks and consent records in Redis, shared by every node.
 * `lookup()` is one Lua script, so one round trip; every write is one atomic script. Revoked ids
 * and marks expire in Redis at the time they stop mattering (PEXPIREAT); a withdrawn consent record
 * at the end of its retention (`consentRetentionMs`), a granted one is kept.
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
  // options hold the URL's password, nor the feed, which holds another one, nor the parts that
  // hold the connection.
  readonly #connection: RedisConnection<StoreClient>;
  readonly #epoch: EpochTracker;
  readonly #consent: ConsentRecords;
  readonly #writes: RevocationWrites;
  readonly #lookup: StoreLookup;
  readonly #state: StoreState;
  #feed: RedisInvalidationFeed | undefined;
  /** Pub/sub channel of the invalidations. */
  readonly #channel: string;
  readonly #heartbeatMs: number;
  /**
   * Waits for the first connection (at most `connectTimeoutMs`) and the naming check before a
   * consent call.
   */
  readonly #connected: () => Promise<void>;
  readonly #naming: NamingCheck;
  readonly #prefix: string;
  #subjectKeys: RedisSubjectKeyStore | undefined;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisStoreOptions) {
    const resolved = resolveStoreOptions(options);
    const { keys, channel, clock, durability, connectWaitMs } = resolved;
    this.#channel = channel;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#heartbeatMs = resolved.heartbeatMs;
    const epoch = new EpochTracker(resolved.epoch, (lost) => this.#feed?.stateLost(lost));
    this.#epoch = epoch;
    // Last: a client is opened only for valid options.
    const connection = new RedisConnection<StoreClient>(resolved.target);
    connection.define([...STORE_SCRIPTS, NAMING_SCRIPT]);
    this.#connection = connection;
    const primary = keys.all()[0]!;
    const naming = new NamingCheck(
      connection,
      primary.namingRecord(),
      primary.epoch(),
      resolved.names.tag,
    );
    this.#naming = naming;
    const now = () => nowArg(clock.now(), OWNER);
    const shards =
      keys.buckets === undefined
        ? undefined
        : new ShardedEpoch(connection, keys.buckets, epoch, now);
    const connected = () => connection.firstConnection(connectWaitMs);
    this.#connected = async () => {
      await connected();
      await naming.verify();
    };
    const context: StoreContext = {
      connection,
      keys,
      channel,
      epoch,
      naming,
      now,
      ready: () => {
        const checking = naming.verify();
        if (checking === undefined) return shards?.join() ?? Promise.resolve();
        return checking.then(() => shards?.join());
      },
      spreadLoss: (id, lostAt) => shards?.spreadLoss(id, lostAt) ?? Promise.resolve(),
      connected,
      write: scriptWriter(connection, durability),
      ...(resolved.recordCipher === undefined ? {} : { cipher: resolved.recordCipher }),
    };
    this.#consent = new ConsentRecords(context, resolved.consentRetentionMs);
    this.#writes = new RevocationWrites(context);
    this.#lookup = new StoreLookup(context, this.#consent, shards);
    this.#state = new StoreState(context, shards);
  }

  /**
   * Reads the revoked id, the three not-before marks and the asked-for consent record in one
   * script, after the epoch check. Rejects with `StoreStateLostError` once the state is lost.
   */
  lookup(query: StoreQuery): Promise<StoreSnapshot> {
    return this.#lookup.lookup(query);
  }

  /** Revokes a token id; the key expires (PEXPIREAT) at `expiresAt`. Never shortens a revocation. */
  revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    return this.#writes.revokeToken(tokenId, expiresAt);
  }

  /** Moves a not-before mark forward (never back); the key expires at the latest `keepUntil`. */
  setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    return this.#writes.setNotBefore(scope, id, at, keepUntil);
  }

  /** Records a grant; the last withdrawal time is kept. */
  async grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    await this.#connected();
    return this.#consent.grant(grant);
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  async withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    await this.#connected();
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
   * Every live consent record of one data subject, sorted by purpose (one script over the
   * subject's index set; no epoch check: an operator's read).
   */
  async consentRecords(subject: string): Promise<readonly ConsentRecord[]> {
    await this.#connected();
    return this.#consent.list(subject);
  }

  /**
   * Deletes every consent record of one data subject and its index (one script), announcing
   * each purpose to every node's cache. Answers the purposes of the records that were live.
   */
  async eraseConsent(subject: string): Promise<readonly string[]> {
    await this.#connected();
    return this.#consent.erase(subject);
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
        publish: (channel, message) => this.#state.heartbeat(channel, message),
        channel: this.#channel,
        heartbeatChannel: `${this.#channel}:hb:${randomBytes(6).toString('hex')}`,
        heartbeatMs: this.#heartbeatMs,
      });
      if (this.#epoch.lost) this.#feed.stateLost(true);
    }
    return this.#feed;
  }

  /**
   * Reads the epoch of the state as Redis holds it (one HMGET). Changes nothing, and not what
   * this store knows either.
   */
  readEpoch(): Promise<StoreEpoch> {
    return this.#state.readEpoch();
  }

  /**
   * Writes the first epoch of a new deployment (origin `'initialized'`) when Redis holds neither
   * an epoch nor the record of a lost one; otherwise changes nothing (`written: false`).
   */
  initializeEpoch(): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    return this.#state.initializeEpoch();
  }

  /**
   * Starts a new epoch once the state was rebuilt (`'restored'`) or its loss accepted
   * (`'accepted'`). It replaces the record of the loss; every node adopts it on its next read or
   * heartbeat and serves again, and every local cache is emptied. Call it only once the state is
   * back: from then on, what Redis holds is trusted.
   */
  renewEpoch(origin: 'restored' | 'accepted'): Promise<StoreEpoch> {
    return this.#state.renewEpoch(origin);
  }

  /**
   * Gives a store of the `'sharded'` layout the epoch of the state it takes over (the one the
   * `'single'` layout's keys were read under, see `migrateKeyLayout`): written into every bucket
   * when Redis holds no epoch for this layout yet, else left as it is. Answers the epoch then in
   * force; `written` tells whether this call wrote it.
   *
   * @internal
   */
  takeOverEpoch(
    epoch: StoreEpoch,
  ): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    return this.#state.takeOverEpoch(epoch);
  }

  /**
   * Resolves when Redis answers PING within `commandTimeoutMs` (not counting a wait for the first
   * connection), else rejects with `StoreUnavailableError` naming the cause (`no connection
   * (ECONNREFUSED)`, a timeout). For readiness probes (`warden.ready()`): rejects with a
   * `ConfigError` too when Redis names data subjects in keys otherwise than this store
   * (`subjectNameKey`).
   */
  async ping(): Promise<void> {
    await this.#connection.run(
      'ping',
      (redis) => redis.ping(),
      (reply) => {
        if (reply !== 'PONG') throw unexpectedReply('ping');
      },
    );
    await this.#naming.verify();
  }

  /**
   * Where a warden keeps the audit trail's data subject keys when it seals by default
   * (`$TOKENWARDEN_MASTER_KEY`, see `SubjectKeyHome`): `<prefix>{tw}:subject-keys` in this
   * store's Redis, on this store's connection, where `tokenwarden erase --redis-url` finds them.
   */
  subjectKeyStore(): SubjectKeyStore {
    this.#subjectKeys ??= new RedisSubjectKeyStore({
      client: this.#connection.client as unknown as Redis | Cluster,
      prefix: this.#prefix,
    });
    return this.#subjectKeys;
  }

  /**
   * Stops using Redis. Quits the client only if the store opened it from `url`; a client passed
   * in stays open. Later calls reject with `StoreUnavailableError`. Idempotent.
   */
  close(): Promise<void> {
    return this.#connection.close(async () => this.#feed?.close());
  }
}
