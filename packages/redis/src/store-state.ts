import type { StoreEpoch } from '@tokenwarden/core/internal';
import { encodeInvalidation } from './invalidation';
import { COMMANDS } from './scripts';
import type { StoreContext } from './store-context';
import { newEpochId, toEpoch } from './store-epoch';
import type { ShardedEpoch } from './store-shards';
import { strings, unexpectedReply } from './values';

/**
 * The epoch commands of a `RedisStore` (the `tokenwarden state` commands call them) and the
 * heartbeat of its invalidation feed, which checks the epoch too. All of them read or write the
 * primary epoch hash; in the `'sharded'` layout, a new epoch is then copied into every bucket.
 *
 * @internal
 */
export class StoreState {
  constructor(
    private readonly store: StoreContext,
    private readonly shards: ShardedEpoch | undefined,
  ) {}

  /** See `RedisStore.readEpoch`: one HMGET, changes nothing. */
  async readEpoch(): Promise<StoreEpoch> {
    const key = this.primaryEpoch();
    await this.store.connected();
    return this.store.connection.run(
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

  /** See `RedisStore.initializeEpoch`. */
  async initializeEpoch(): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    await this.store.connected();
    // Recorded first (when Redis records none), so no epoch is ever without its naming.
    await this.store.naming.again();
    const result = await this.writeEpoch('init', 'initialized');
    if (result.written && result.epoch.status === 'current') {
      await this.shards?.spread(result.epoch, 'copy');
      this.store.epoch.adopt(result.epoch.id);
    }
    return result;
  }

  /** See `RedisStore.renewEpoch`. */
  async renewEpoch(origin: 'restored' | 'accepted'): Promise<StoreEpoch> {
    if (origin !== 'restored' && origin !== 'accepted') {
      throw new TypeError(`RedisStore: origin must be 'restored' or 'accepted'`);
    }
    await this.store.connected();
    await this.store.naming.again();
    const { epoch } = await this.writeEpoch('renew', origin);
    if (epoch.status !== 'current') throw unexpectedReply('renewEpoch');
    await this.shards?.spread(epoch, 'force');
    this.store.epoch.adopt(epoch.id);
    return epoch;
  }

  /** See `RedisStore.takeOverEpoch`. */
  async takeOverEpoch(
    epoch: StoreEpoch,
  ): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }> {
    const current = await this.readEpoch();
    await this.store.naming.again();
    if (this.shards === undefined || epoch.status !== 'current' || current.status !== 'missing') {
      return { written: false, epoch: current };
    }
    await this.shards.spread(epoch, 'copy');
    return { written: true, epoch: await this.readEpoch() };
  }

  /** One heartbeat of the feed: published with the epoch check (see `RedisStore.invalidations`). */
  async heartbeat(channel: string, message: string): Promise<void> {
    if (this.shards !== undefined) await this.shards.join();
    const args = [
      this.primaryEpoch(),
      this.store.now(),
      ...this.store.epoch.args(),
      channel,
      message,
    ];
    await this.store.connection.run(
      'heartbeat',
      (redis) => redis[COMMANDS.heartbeat](...args),
      (reply) => {
        const [status, id, lostAt] = strings(reply, 3, 'heartbeat');
        // A lost state is not a failed heartbeat: the feed learns of it through stateLost.
        this.store.epoch.settle(status, id, lostAt, 'heartbeat');
      },
    );
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
      this.store.now(),
      this.store.channel,
      encodeInvalidation({ kind: 'reset' }),
    ];
    const operation = action === 'init' ? 'initializeEpoch' : 'renewEpoch';
    return this.store.connection.run(
      operation,
      (redis) => redis[COMMANDS.epochWrite](...args),
      (reply) => {
        const [written, ...fields] = strings(reply, 6, operation);
        if (written !== '0' && written !== '1') throw unexpectedReply(operation);
        return { written: written === '1', epoch: toEpoch(fields, operation) };
      },
    );
  }

  /** The epoch hash heartbeats, `state` commands and the first read of a store check. */
  private primaryEpoch(): string {
    return this.store.keys.all()[0]!.epoch();
  }
}
