import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  StoreUnavailableError,
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
} from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, openSubscriber, unavailable, startDeadline } from './client';
import { encodeInvalidation, RedisInvalidationFeed, type SubscriberView } from './invalidation';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX, KeySpace } from './keys';
import { COMMANDS, SCRIPTS } from './scripts';

/** Default per-command deadline, in ms. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 200;

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

/** The script commands as callable methods of the client (defined through `defineCommand`). */
type ScriptCommands = Record<
  (typeof COMMANDS)[keyof typeof COMMANDS],
  (...args: string[]) => Promise<unknown>
>;

/** The few client members the store touches; `Redis` and `Cluster` both have them. */
interface ClientView {
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys: number }): void;
  hmget(key: string, ...fields: string[]): Promise<unknown>;
  once(event: 'ready', listener: () => void): unknown;
  removeListener(event: 'ready', listener: () => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
  publish(channel: string, message: string): Promise<unknown>;
  duplicate(): unknown;
}

/** Client states in which a command can only fail now but may succeed a moment later. */
const CONNECTING = new Set(['connecting', 'connect', 'reconnecting']);

const MAX_COMMAND_TIMEOUT_MS = 60_000;

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
  // ES private fields: `util.inspect(store)` must not print the client, whose options hold the
  // URL's password.
  readonly #client: ClientView;
  readonly #commands: ScriptCommands;
  private readonly owned: boolean;
  private readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  private readonly channel: string;
  // ES private: the URL may hold a password, and the feed holds a client whose options do.
  readonly #url: string | undefined;
  private readonly heartbeatMs: number;
  #feed: RedisInvalidationFeed | undefined;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private closing: Promise<void> | undefined;
  private readyWaiter: { promise: Promise<void>; listener: () => void } | undefined;
  private lastConnectionError: Error | undefined;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`RedisStore needs an options object with 'url' or 'client'`);
    }
    const { url, client } = options;
    if (url !== undefined && client !== undefined) {
      throw new ConfigError(
        `RedisStore options 'url' and 'client' are mutually exclusive; pass one`,
      );
    }
    if (url === undefined && client === undefined) {
      throw new ConfigError(
        `RedisStore needs 'url' (a redis:// or rediss:// URL) or 'client' (an ioredis Redis or Cluster)`,
      );
    }
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (
      !Number.isSafeInteger(this.timeoutMs) ||
      this.timeoutMs <= 0 ||
      this.timeoutMs > MAX_COMMAND_TIMEOUT_MS
    ) {
      throw new ConfigError(
        `RedisStore option 'commandTimeoutMs' must be an integer from 1 to ${MAX_COMMAND_TIMEOUT_MS}`,
      );
    }
    this.keys = new KeySpace(
      options.prefix ?? DEFAULT_PREFIX,
      options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
    );
    this.channel = this.keys.base + 'invalidate';
    this.#url = url;
    this.heartbeatMs = options.heartbeatMs ?? 250;
    if (!Number.isSafeInteger(this.heartbeatMs) || this.heartbeatMs < 10) {
      throw new ConfigError(`RedisStore option 'heartbeatMs' must be an integer of at least 10`);
    }
    this.clock = options.clock ?? systemClock;
    if (typeof this.clock?.now !== 'function') {
      throw new ConfigError(`RedisStore option 'clock' must have a now() method`);
    }

    if (client !== undefined) {
      const view = client as unknown as Partial<ClientView> | null;
      if (typeof view?.defineCommand !== 'function' || typeof view.hmget !== 'function') {
        throw new ConfigError(`RedisStore option 'client' must be an ioredis Redis or Cluster`);
      }
      this.#client = client as unknown as ClientView;
      this.owned = false;
    } else {
      // Keep a sanitised copy of the last connection error as the cause of the next failure.
      const redis = openClient(
        url,
        this.timeoutMs,
        (err) => {
          this.lastConnectionError = err;
        },
        "RedisStore option 'url'",
      );
      this.#client = redis as unknown as ClientView;
      this.owned = true;
    }
    for (const script of SCRIPTS) {
      this.#client.defineCommand(script.name, {
        lua: script.lua,
        numberOfKeys: script.numberOfKeys,
      });
    }
    this.#commands = this.#client as unknown as ScriptCommands;
  }

  /** Reads the revoked id, the three not-before marks and the asked-for consent record in one script. */
  async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    const tokenId = text(query.tokenId, 'tokenId');
    const subject = text(query.subject, 'subject');
    const client = query.client === undefined ? undefined : text(query.client, 'client');
    const consent =
      query.consent === undefined
        ? undefined
        : {
            subject: text(query.consent.subject, 'consent.subject'),
            purpose: text(query.consent.purpose, 'consent.purpose'),
          };
    const all = this.keys.allMark();
    const args = [
      this.keys.revoked(tokenId),
      this.keys.subjectMark(subject),
      client === undefined ? all : this.keys.clientMark(client),
      all,
      consent === undefined ? all : this.keys.consent(consent.subject, consent.purpose),
      this.nowArg(),
      client === undefined ? '0' : '1',
      consent === undefined ? '0' : '1',
    ];
    return this.run(
      'lookup',
      (commands) => commands[COMMANDS.lookup](...args),
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
    const key = this.keys.revoked(text(tokenId, 'tokenId'));
    await this.raise(
      'revokeToken',
      key,
      epochArg(expiresAt, 'expiresAt'),
      epochArg(expiresAt, 'expiresAt'),
      { kind: 'token', id: tokenId },
    );
  }

  /** Moves a not-before mark forward (never back); the key expires at the latest `keepUntil`. */
  async setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    let key: string;
    if (scope === 'all') key = this.keys.allMark();
    else if (scope === 'subject') key = this.keys.subjectMark(text(id, 'id'));
    else if (scope === 'client') key = this.keys.clientMark(text(id, 'id'));
    else throw new TypeError(`RedisStore: scope must be 'subject', 'client' or 'all'`);
    await this.raise(
      'setNotBefore',
      key,
      epochArg(at, 'at'),
      epochArg(keepUntil, 'keepUntil'),
      scope === 'all' ? { kind: 'all' } : { kind: scope, id },
    );
  }

  /** Records a grant; the last withdrawal time is kept. */
  async grantConsent(grant: ConsentGrant): Promise<ConsentRecord> {
    const subject = text(grant.subject, 'subject');
    const purpose = text(grant.purpose, 'purpose');
    const args = [
      this.keys.consent(subject, purpose),
      epochArg(grant.grantedAt, 'grantedAt'),
      grant.expiresAt === undefined ? '0' : '1',
      grant.expiresAt === undefined ? '' : epochArg(grant.expiresAt, 'expiresAt'),
      grant.source === undefined ? '0' : '1',
      grant.source === undefined ? '' : text(grant.source, 'source'),
      this.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    return this.run(
      'grantConsent',
      (commands) => commands[COMMANDS.grant](...args),
      (reply) => toRecord(subject, purpose, strings(reply, 5, 'grantConsent')),
    );
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  async withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    const subject = text(withdrawal.subject, 'subject');
    const purpose = text(withdrawal.purpose, 'purpose');
    const args = [
      this.keys.consent(subject, purpose),
      epochArg(withdrawal.withdrawnAt, 'withdrawnAt'),
      withdrawal.source === undefined ? '0' : '1',
      withdrawal.source === undefined ? '' : text(withdrawal.source, 'source'),
      this.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    return this.run(
      'withdrawConsent',
      (commands) => commands[COMMANDS.withdraw](...args),
      (reply) => toRecord(subject, purpose, strings(reply, 5, 'withdrawConsent')),
    );
  }

  /** Reads one consent record (one HMGET), or `undefined`. */
  async getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    const checkedSubject = text(subject, 'subject');
    const checkedPurpose = text(purpose, 'purpose');
    const key = this.keys.consent(checkedSubject, checkedPurpose);
    return this.run(
      'getConsent',
      () => this.#client.hmget(key, 'granted', 'expires', 'withdrawn', 'source'),
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== 4) throw unexpectedReply('getConsent');
        const [granted, expires, withdrawn, source] = reply.map((v: unknown) => {
          if (v === null) return undefined;
          if (typeof v !== 'string') throw unexpectedReply('getConsent');
          return v;
        });
        if (granted === undefined) return undefined;
        return toRecord(checkedSubject, checkedPurpose, [
          granted,
          expires ?? '',
          withdrawn ?? '',
          source === undefined ? '0' : '1',
          source ?? '',
        ]);
      },
    );
  }

  /**
   * The store's change feed: every write is announced on a pub/sub channel from inside its
   * script, and this subscription (a connection of its own, opened on first call) tells local
   * caches which entries to drop, and when to stop trusting themselves.
   */
  invalidations(): InvalidationFeed {
    if (this.#feed === undefined) {
      const subscriber =
        this.#url !== undefined
          ? openSubscriber(this.#url, this.timeoutMs)
          : (this.#client.duplicate() as SubscriberView);
      this.#feed = new RedisInvalidationFeed({
        subscriber,
        publish: (channel, message) => this.#client.publish(channel, message),
        channel: this.channel,
        heartbeatChannel: `${this.channel}:hb:${randomBytes(6).toString('hex')}`,
        heartbeatMs: this.heartbeatMs,
      });
    }
    return this.#feed;
  }

  /**
   * Stops using Redis. Quits the client only if the store opened it from `url`; a client passed
   * in stays open. Later calls reject with `StoreUnavailableError`. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.#feed?.close();
    if (this.readyWaiter !== undefined) {
      this.#client.removeListener('ready', this.readyWaiter.listener);
      this.readyWaiter = undefined;
    }
    if (!this.owned) return;
    const client = this.#client;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // QUIT lets pending replies arrive; a server that is down must not hold close() up.
      await Promise.race([
        client.quit(),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.timeoutMs);
        }),
      ]);
    } catch {
      // Already closed or not connected: disconnect() below is all that is left to do.
    } finally {
      clearTimeout(timer);
      client.disconnect();
    }
  }

  private async raise(
    operation: string,
    key: string,
    at: string,
    keepUntil: string,
    change: Invalidation,
  ): Promise<void> {
    const now = this.nowArg();
    const message = encodeInvalidation(change);
    await this.run(
      operation,
      (commands) => commands[COMMANDS.raise](key, at, keepUntil, now, this.channel, message),
      (reply) => {
        for (const value of strings(reply, 2, operation)) epochMs(value, operation);
      },
    );
  }

  /**
   * Sends one command under the store's deadline and turns every failure into
   * `StoreUnavailableError`. While the client is (re)connecting, waits for it within the same
   * deadline rather than failing a request that arrives a moment before the connection is back.
   */
  private async run<T>(
    operation: string,
    send: (commands: ScriptCommands) => Promise<unknown>,
    parse: (reply: unknown) => T,
  ): Promise<T> {
    if (this.closing !== undefined) {
      throw new StoreUnavailableError(`RedisStore is closed; ${operation} was not sent`);
    }
    const deadline = startDeadline(operation, this.timeoutMs, () =>
      this.#client.status === 'ready' ? undefined : this.lastConnectionError,
    );
    try {
      const ready = this.whenReady();
      const sent =
        ready === undefined
          ? send(this.#commands)
          : ready.then(() => {
              // The deadline passed while waiting: do not send a write the caller was told failed.
              if (deadline.passed)
                throw new StoreUnavailableError(`Redis did not answer ${operation}`);
              return send(this.#commands);
            });
      const reply = await Promise.race([sent, deadline.promise]);
      return parse(reply);
    } catch (err) {
      throw unavailable(operation, err);
    } finally {
      deadline.clear();
    }
  }

  /** A promise for the next 'ready' while the client is connecting, else `undefined`. */
  private whenReady(): Promise<void> | undefined {
    if (!CONNECTING.has(this.#client.status)) return undefined;
    if (this.readyWaiter === undefined) {
      let listener: () => void = () => undefined;
      const promise = new Promise<void>((resolve) => {
        listener = () => {
          this.readyWaiter = undefined;
          resolve();
        };
      });
      this.#client.once('ready', listener);
      this.readyWaiter = { promise, listener };
    }
    return this.readyWaiter.promise;
  }

  private nowArg(): string {
    const now = this.clock.now();
    if (!Number.isFinite(now)) throw new RangeError(`RedisStore: clock.now() must be finite`);
    // Rounding down keeps an entry live for the rest of its last millisecond, never less.
    return String(Math.floor(now));
  }
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TypeError(`RedisStore: '${name}' must be a string`);
  return value;
}

function epochArg(value: unknown, name: string): string {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RangeError(`RedisStore: '${name}' must be an integer number of epoch milliseconds`);
  }
  return String(value);
}

function unexpectedReply(operation: string): StoreUnavailableError {
  return new StoreUnavailableError(`Redis gave an unexpected reply to ${operation}`);
}

/** The reply as exactly `length` strings, or `StoreUnavailableError`. */
function strings(reply: unknown, length: number, operation: string): string[] {
  if (!Array.isArray(reply) || reply.length !== length) throw unexpectedReply(operation);
  return reply.map((value: unknown) => {
    if (typeof value !== 'string') throw unexpectedReply(operation);
    return value;
  });
}

/** A stored epoch-ms string as a number, or `StoreUnavailableError`. */
function epochMs(value: string | undefined, operation: string): number {
  if (value === undefined || !/^-?\d{1,16}$/.test(value)) throw unexpectedReply(operation);
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw unexpectedReply(operation);
  return parsed;
}

/** Builds a record from the scripts' five strings; absent fields get no key at all. */
function toRecord(subject: string, purpose: string, fields: readonly string[]): ConsentRecord {
  const [granted, expires, withdrawn, hasSource, source] = fields;
  if (fields.length !== 5 || (hasSource !== '0' && hasSource !== '1')) {
    throw unexpectedReply('consent');
  }
  return {
    subject,
    purpose,
    grantedAt: epochMs(granted, 'consent'),
    ...(expires === '' ? {} : { expiresAt: epochMs(expires, 'consent') }),
    ...(withdrawn === '' ? {} : { withdrawnAt: epochMs(withdrawn, 'consent') }),
    ...(hasSource === '1' ? { source: source ?? '' } : {}),
  };
}
