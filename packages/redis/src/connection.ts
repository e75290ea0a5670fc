import { StoreUnavailableError } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, openSubscriber, safeCause, startDeadline, unavailable } from './client';
import { connectionCause } from './connection-cause';
import type { ConnectionTarget } from './connection-target';
import { connectTimeoutMs } from './defaults';
import type { ScriptDefinition } from './scripts';

export { connectionCause } from './connection-cause';
export {
  connectionTarget,
  type ConnectionOptions,
  type ConnectionPolicy,
  type ConnectionTarget,
} from './connection-target';

/** Client states in which a call waits for the connection, per `ConnectionPolicy.waitFor` (connection-target.ts). */
const WAITS_FOR = {
  any: new Set(['wait', 'connecting', 'connect', 'reconnecting']),
  first: new Set(['wait', 'connecting', 'connect']),
} as const;

/**
 * The one Redis connection of a Tokenwarden class: opens a fail-fast client from a URL or adopts
 * the client it is given (and knows which, so it never closes a client it did not open), keeps
 * the last connection error (sanitised) as the cause of the next failure, and sends every call
 * through {@link RedisConnection.run}: a deadline, a wait for a connecting client within it, and
 * every failure turned into `StoreUnavailableError`.
 *
 * `View` is the set of client members (commands, script commands) the owning class calls.
 *
 * @example
 * const connection = new RedisConnection<{ get(key: string): Promise<string | null> }>(
 *   connectionTarget(options, { owner: 'MyStore', defaultTimeoutMs: 200 }),
 * );
 * const value = await connection.run('get', (client) => client.get(key));
 */
export class RedisConnection<View = Redis> {
  // ES private: `util.inspect` of a store must not print the client (its options hold the URL's
  // password), nor the URL.
  readonly #client: Redis | Cluster;
  readonly #target: ConnectionTarget;
  /** Whether the client was opened here (and is closed by {@link RedisConnection.close}). */
  readonly owned: boolean;
  /** `commandTimeoutMs`: the ioredis command timeout of an opened client, and the QUIT wait. */
  readonly timeoutMs: number;
  private readonly owner: string;
  private readonly deadlineMs: number;
  private readonly waitFor: 'any' | 'first';
  private closing: Promise<void> | undefined;
  private waiter: { promise: Promise<void>; done: () => void } | undefined;
  private lastError: Error | undefined;
  /** Whether the client was ever ready; until then a write may wait for its first connection. */
  private everReady: boolean;
  /** The state last logged: `undefined` until the first connection or failure. */
  private up: boolean | undefined;

  /**
   * Opens a client from `target.url`, or adopts `target.client`.
   *
   * @param opened A client already opened for this connection (a subscriber): owned, closed here.
   */
  constructor(target: ConnectionTarget, opened?: Redis | Cluster) {
    const { policy } = target;
    this.#target = target;
    this.owner = policy.owner;
    this.timeoutMs = target.timeoutMs;
    this.deadlineMs =
      policy.deadline === 'connect' ? connectTimeoutMs(target.timeoutMs) : target.timeoutMs;
    this.waitFor = policy.waitFor ?? 'any';
    // Subscribers (`opened`) log nothing: their owner's connection tells the same story.
    const logger = opened === undefined ? policy.logger : undefined;
    const keepError = (err: Error) => {
      this.lastError = err;
      if (logger !== undefined && this.up !== false && this.closing === undefined) {
        this.up = false;
        logger.error(
          `${this.owner}: Redis is unreachable (${connectionCause(err)}); calls fail with store_unavailable until it answers`,
        );
      }
    };
    if (opened !== undefined) {
      this.#client = opened;
      this.owned = true;
      // The only listener: ioredis would otherwise print every connection error.
      opened.on('error', (err: Error) => keepError(safeCause(err) as Error));
    } else if (target.client !== undefined) {
      this.#client = target.client;
      this.owned = false;
    } else {
      this.#client = openClient(
        target.url,
        target.timeoutMs,
        keepError,
        `${this.owner} option 'url'`,
        policy.waitMs ?? 0,
      );
      this.owned = true;
    }
    this.everReady = this.#client.status === 'ready';
    this.#client.on('ready', () => {
      this.everReady = true;
      if (logger !== undefined && this.up === false) {
        logger.warn(`${this.owner}: Redis answers again`);
      }
      this.up = true;
    });
  }

  /** The client, for event listeners; commands go through {@link RedisConnection.run}. */
  get client(): View {
    return this.#client as unknown as View;
  }

  /** The client's ioredis status (`'ready'`, `'reconnecting'`, …). */
  get status(): string {
    return this.#client.status;
  }

  /** Whether {@link RedisConnection.close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Defines script commands on the client with ioredis `defineCommand`, which sends EVALSHA and
   * falls back to EVAL once on NOSCRIPT (after a restart or SCRIPT FLUSH).
   */
  define(scripts: readonly ScriptDefinition[]): void {
    for (const { name, lua, numberOfKeys } of scripts) {
      this.#client.defineCommand(
        name,
        numberOfKeys === undefined ? { lua } : { lua, numberOfKeys },
      );
    }
  }

  /**
   * Sends one call under the deadline and turns every failure into `StoreUnavailableError` (one
   * already is passes through). While the client is connecting (see
   * `ConnectionPolicy.waitFor` (connection-target.ts)), waits for it within the same deadline rather than failing a
   * call that arrives a moment before the connection is up; a write whose deadline passed during
   * that wait is never sent. The error names the operation, never a key, an id or the URL.
   *
   * @param send Sends the command(s); may reject or throw.
   * @param parse Checks and converts the reply; may throw (mapped like a failed send).
   * @param extraMs Time added to the deadline, for a call that waits on purpose (WAIT).
   */
  async run<R, T = R>(
    operation: string,
    send: (client: View) => Promise<R>,
    parse?: (reply: R) => T,
    extraMs = 0,
  ): Promise<T> {
    if (this.closing !== undefined) {
      throw new StoreUnavailableError(`${this.owner} is closed; ${operation} was not sent`);
    }
    const deadline = startDeadline(operation, this.deadlineMs + extraMs, () =>
      this.#client.status === 'ready' ? undefined : this.lastError,
    );
    try {
      const ready = this.whenReady();
      const sent =
        ready === undefined
          ? send(this.client)
          : ready.then(() => {
              // The deadline passed while waiting: do not send a write the caller was told failed.
              if (deadline.passed) {
                throw new StoreUnavailableError(`Redis did not answer ${operation}`);
              }
              return send(this.client);
            });
      const reply = await Promise.race([sent, deadline.promise]);
      return parse === undefined ? (reply as unknown as T) : parse(reply);
    } catch (err) {
      // Not connected: the connection's own error is the cause, not the deadline it led to. Its
      // code only (ECONNREFUSED): errors reach CLI output and clients' logs, where the address
      // of the server is not shown; the connection's log line has it.
      const cause = this.#client.status === 'ready' ? undefined : this.lastError;
      const failure = unavailable(operation, err);
      if (cause === undefined) throw failure;
      throw new StoreUnavailableError(
        `${failure.message}: no connection (${connectionCause(cause, false)})`,
        {
          cause,
        },
      );
    } finally {
      deadline.clear();
    }
  }

  /**
   * Waits, at most `maxMs`, for the client's first connection, so the first command of a fresh
   * connection (an admin write, a CLI command) is not held to one command's deadline while the
   * connection is still being made. Resolves at once once the client was ever ready, or when
   * closed; never rejects (the command that follows reports any failure).
   */
  async firstConnection(maxMs: number): Promise<void> {
    const client = this.#client;
    if (this.everReady || this.closing !== undefined || maxMs <= 0) return;
    if (client.status === 'wait') void client.connect().catch(() => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let done: () => void = () => undefined;
    try {
      await new Promise<void>((resolve) => {
        done = resolve;
        timer = setTimeout(resolve, maxMs);
        client.once('ready', done);
        client.once('end', done);
      });
    } finally {
      clearTimeout(timer);
      client.removeListener('ready', done);
      client.removeListener('end', done);
    }
  }

  /**
   * A connection of its own for pub/sub (subscriber mode), with the same policy: from the URL
   * (queues its SUBSCRIBE until connected, resubscribes after every reconnect, named
   * `connectionName`), or a duplicate of the client passed in. Always owned: its `close()` quits it.
   */
  subscriber<S>(connectionName: string): RedisConnection<S> {
    const url = this.#target.url;
    const client =
      url !== undefined
        ? openSubscriber(url, this.timeoutMs, connectionName)
        : (this.#client.duplicate as () => Redis | Cluster).call(this.#client);
    return new RedisConnection<S>(this.#target, client);
  }

  /**
   * Stops using Redis: later calls reject with `StoreUnavailableError` without being sent. Runs
   * `before` (e.g. closing what depends on the client), then quits the client if it was opened
   * here; a client passed in stays open. A server that is down does not hold `close()` up longer
   * than `commandTimeoutMs`. Idempotent.
   */
  close(before?: () => Promise<unknown>): Promise<void> {
    this.closing ??= this.shutdown(before);
    return this.closing;
  }

  private async shutdown(before: (() => Promise<unknown>) | undefined): Promise<void> {
    try {
      await before?.();
    } finally {
      this.dropWaiter();
      if (this.owned) await this.quit();
    }
  }

  private async quit(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // QUIT lets pending replies arrive; a server that is down must not hold close() up.
      await Promise.race([
        this.#client.quit(),
        new Promise((resolve) => {
          timer = setTimeout(resolve, this.timeoutMs);
        }),
      ]);
    } catch {
      // Already closed or not connected: disconnect() below is all that is left to do.
    } finally {
      clearTimeout(timer);
      this.#client.disconnect();
    }
  }

  /**
   * A promise for the connection while the client is connecting (see
   * `ConnectionPolicy.waitFor` (connection-target.ts)), else `undefined`. One listener serves every waiting call.
   */
  private whenReady(): Promise<void> | undefined {
    const client = this.#client;
    if (!WAITS_FOR[this.waitFor].has(client.status)) return undefined;
    // A lazy client (`lazyConnect`) connects on demand.
    if (client.status === 'wait') void client.connect().catch(() => undefined);
    if (this.waiter === undefined) {
      let done: () => void = () => undefined;
      const promise = new Promise<void>((resolve) => {
        done = () => {
          this.dropWaiter();
          resolve();
        };
      });
      client.once('ready', done);
      // 'first': a failed first attempt ends the wait; the call then fails fast.
      if (this.waitFor === 'first') client.once('error', done);
      this.waiter = { promise, done };
    }
    return this.waiter.promise;
  }

  private dropWaiter(): void {
    if (this.waiter === undefined) return;
    this.#client.removeListener('ready', this.waiter.done);
    this.#client.removeListener('error', this.waiter.done);
    this.waiter = undefined;
  }
}
