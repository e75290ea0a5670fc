import type { EpochOrigin, StoreEpoch } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import type { KeySpace } from './keys';
import type { StoreClient } from './store-context';
import { COMMANDS } from './scripts';
import type { EpochTracker } from './store-epoch';
import { strings, unexpectedReply } from './values';

/**
 * The epoch of the state in the `'sharded'` layout. A script can only read keys of one slot, so
 * every bucket holds a copy of the epoch hash and each read checks the copy of its own bucket, in
 * the same script, as the `'single'` layout checks its one epoch hash:
 *
 * - The first bucket's epoch hash is the primary one: heartbeats, `state` commands and the first
 *   read of a store check it (and create it, with `epoch: 'create'`, on a new deployment).
 * - Before its first read a store joins the epoch: it checks the primary, and unless the primary
 *   records that its epoch was copied everywhere (field `spread`, the epoch id), it copies it into
 *   every bucket that holds neither an epoch nor a loss, then records `spread`. So once an epoch is
 *   spread, a bucket without its copy has lost its state (a FLUSHALL, a master that failed over to
 *   a replica without the writes): the read there records the loss in that bucket and the store
 *   records it in every bucket, so every node refuses, whichever bucket it reads.
 * - `state init` copies the first epoch, `state restore` and `state accept-loss` write their new
 *   epoch over every bucket's copy.
 *
 * @internal
 */
export class ShardedEpoch {
  #joining: Promise<void> | undefined;

  constructor(
    private readonly connection: RedisConnection<StoreClient>,
    private readonly buckets: readonly KeySpace[],
    private readonly tracker: EpochTracker,
    private readonly now: () => string,
  ) {}

  /** Resolves once this store knows the epoch (at once after the first time). */
  join(): Promise<void> {
    if (this.tracker.args()[0] !== '') return Promise.resolve();
    this.#joining ??= this.joinOnce().finally(() => {
      this.#joining = undefined;
    });
    return this.#joining;
  }

  /**
   * Copies `epoch` into every bucket: `'copy'` where a bucket holds neither an epoch nor a loss,
   * `'force'` over whatever it holds; then records on the primary that it is spread.
   */
  async spread(epoch: StoreEpoch, mode: 'copy' | 'force'): Promise<void> {
    if (epoch.status !== 'current') return;
    const args = [mode, epoch.id, epoch.origin, String(epoch.since)];
    await Promise.all(
      this.buckets.map((bucket) =>
        this.connection.run('spreadEpoch', (redis) =>
          redis[COMMANDS.epochSpread](bucket.epoch(), ...args),
        ),
      ),
    );
    const primary = this.buckets[0]!.epoch();
    await this.connection.run('spreadEpoch', (redis) => redis.hset(primary, 'spread', epoch.id));
  }

  /** Records in every bucket the loss of epoch `id` that a read found in one of them. */
  async spreadLoss(id: string, lostAt: string): Promise<void> {
    if (id === '') return;
    await Promise.all(
      this.buckets.map((bucket) =>
        this.connection.run('recordLoss', (redis) =>
          redis[COMMANDS.epochSpread](bucket.epoch(), 'lose', id, lostAt, ''),
        ),
      ),
    );
  }

  private async joinOnce(): Promise<void> {
    const primary = this.buckets[0]!.epoch();
    const checkArgs = [primary, this.now(), ...this.tracker.args()];
    const status = await this.connection.run(
      'joinEpoch',
      (redis) => redis[COMMANDS.epochCheck](...checkArgs),
      (reply) => strings(reply, 3, 'joinEpoch'),
    );
    // Not adopted yet: a lost or missing epoch is left to the read itself, which refuses.
    if (status[0] !== 'ok') return;
    const fields = await this.connection.run(
      'joinEpoch',
      (redis) => redis.hmget(primary, 'id', 'origin', 'since', 'spread'),
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== 4) throw unexpectedReply('joinEpoch');
        return reply.map((value: unknown) => (typeof value === 'string' ? value : ''));
      },
    );
    const [id, origin, since, spread] = fields as [string, string, string, string];
    if (id === '') return;
    if (spread !== id) {
      await this.spread(
        { status: 'current', id, origin: origin as EpochOrigin, since: Number(since) },
        'copy',
      );
    }
    this.tracker.adopt(id);
  }
}
