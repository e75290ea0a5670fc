import type { Invalidation, MarkScope } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import { encodeInvalidation } from './invalidation';
import { COMMANDS } from './scripts';
import type { StoreClient, StoreContext } from './store-context';
import { sendDurable, type StoreDurability } from './store-durability';
import { epochArg, epochMs, strings, text } from './values';

const OWNER = 'RedisStore';

/**
 * The revocation writes of a `RedisStore`: revoked token ids and not-before marks, each raised by
 * one atomic script per key (one key, or one per bucket in the `'sharded'` layout) that also
 * announces the change on the invalidation channel. Never shortens a revocation nor moves a mark
 * back.
 *
 * @internal
 */
export class RevocationWrites {
  constructor(private readonly store: StoreContext) {}

  /** Revokes a token id; the key expires (PEXPIREAT) at `expiresAt`. */
  async revokeToken(tokenId: string, expiresAt: number): Promise<void> {
    const id = text(tokenId, 'tokenId', OWNER);
    const until = epochArg(expiresAt, 'expiresAt', OWNER);
    await this.store.connected();
    await this.store.naming.verify();
    // Without the token's subject, the revocation goes to every bucket ('sharded').
    const keys = this.store.keys.all().map((space) => space.revoked(id));
    await this.raise('revokeToken', keys, until, until, { kind: 'token', id: tokenId });
  }

  /** Moves a not-before mark forward; the key expires at the latest `keepUntil`. */
  async setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void> {
    // A subject's mark lives in its bucket; client and deployment marks in every bucket.
    const spaces = this.store.keys;
    let keys: string[];
    if (scope === 'all') keys = spaces.all().map((space) => space.allMark());
    else if (scope === 'subject') {
      const subject = text(id, 'id', OWNER);
      keys = [spaces.subject(subject).mark];
    } else if (scope === 'client') {
      const client = text(id, 'id', OWNER);
      keys = spaces.all().map((space) => space.clientMark(client));
    } else throw new TypeError(`RedisStore: scope must be 'subject', 'client' or 'all'`);
    await this.store.connected();
    await this.store.naming.verify();
    await this.raise(
      'setNotBefore',
      keys,
      epochArg(at, 'at', OWNER),
      epochArg(keepUntil, 'keepUntil', OWNER),
      scope === 'all' ? { kind: 'all' } : { kind: scope, id },
    );
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
    const now = this.store.now();
    const message = encodeInvalidation(change);
    const one = (key: string, announce: string) =>
      this.store.write(
        operation,
        COMMANDS.raise,
        [key, at, keepUntil, now, this.store.channel, announce],
        (reply) => {
          for (const value of strings(reply, 2, operation)) epochMs(value, operation);
        },
      );
    await Promise.all(keys.slice(0, -1).map((key) => one(key, '')));
    await one(keys[keys.length - 1]!, message);
  }
}

/**
 * The `write` of a {@link StoreContext}: runs one write script alone, or, with `durability`,
 * followed by `WAIT` in one pipeline (see `sendDurable`).
 *
 * @internal
 */
export function scriptWriter(
  connection: RedisConnection<StoreClient>,
  durability: StoreDurability | undefined,
): StoreContext['write'] {
  return async (operation, script, args, parse) => {
    if (durability === undefined) {
      return connection.run(operation, (redis) => redis[script](...args), parse);
    }
    return connection.run(
      operation,
      (redis) => {
        const pipeline = redis.pipeline();
        return sendDurable(pipeline, () => pipeline[script](...args), operation, durability);
      },
      parse,
      durability.timeoutMs,
    );
  };
}
