import { ConfigError } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import type { ScriptDefinition } from './scripts';
import type { StoreClient } from './store-context';
import { CLEAR_NAMES } from './subject-names';
import { unexpectedReply } from './values';

/** The script command of the naming check (defined by `RedisStore` on its client). */
export const NAMING_COMMAND = 'tokenwardenNamingCheck' satisfies keyof StoreClient;

/**
 * The naming check: `KEYS[1]` the naming record (hash, field `subjects`), `KEYS[2]` the epoch hash
 * of the same key space (one slot); `ARGV[1]` the naming of this store (`'clear'` or
 * `'hmac-sha256:<key id>'`). Answers the naming the keys of Redis use:
 * - the one recorded;
 * - else `'clear'` when this store names subjects in clear (it records nothing: a deployment
 *   without the record names them in clear), or when Redis holds an epoch (a deployment whose
 *   keys were written by stores naming subjects in clear);
 * - else (a new deployment, or a lost state) the hashed naming of this store, now recorded.
 */
export const NAMING_CHECK_LUA = `
local recorded = redis.call('HGET', KEYS[1], 'subjects')
if recorded then
  return recorded
end
-- No record: names in clear, unless nothing was ever written (no epoch) and this store hashes.
if ARGV[1] == '${CLEAR_NAMES}' or redis.call('HEXISTS', KEYS[2], 'id') == 1 then
  return '${CLEAR_NAMES}'
end
redis.call('HSET', KEYS[1], 'subjects', ARGV[1])
return ARGV[1]
`;

/** The naming check as `RedisConnection.define` registers it. */
export const NAMING_SCRIPT: ScriptDefinition = {
  name: NAMING_COMMAND,
  lua: NAMING_CHECK_LUA,
  numberOfKeys: 2,
};

/**
 * How long a passed naming check is trusted before it is run again, in ms. A node started before
 * the keys moved to other names (`migrateSubjectNames`) refuses within this time (plus one round
 * trip); the migration waits this long before it deletes the old keys.
 */
export const NAMING_RECHECK_MS = 5_000;

/**
 * Whether the keys in Redis name data subjects as this store does. A store that read a naming
 * other than its own would miss every not-before mark and consent record written under the other
 * names (revoked tokens served again), so until the check passed, every call waits for it, and a
 * mismatch rejects the call with a `ConfigError`; a failed check is run again by the next call.
 * A passed check is run again in the background every {@link NAMING_RECHECK_MS} (no call waits for
 * it); once it finds another naming, calls are refused again.
 *
 * @internal
 */
export class NamingCheck {
  /** Until when (performance.now() ms) the last passed check is trusted; -1 when none passed. */
  #passedUntil = -1;
  #pending: Promise<void> | undefined;

  constructor(
    private readonly connection: RedisConnection<StoreClient>,
    private readonly recordKey: string,
    private readonly epochKey: string,
    private readonly tag: string,
  ) {}

  /** `undefined` once the check passed; else a promise of it (rejects with `ConfigError`). */
  verify(): Promise<void> | undefined {
    if (this.#passedUntil >= 0) {
      if (performance.now() >= this.#passedUntil && this.#pending === undefined) {
        // Checked again behind the calls; a failure to reach Redis fails the calls themselves.
        this.start().catch(() => undefined);
      }
      return undefined;
    }
    return this.#pending ?? this.start();
  }

  /** Runs the check again (before a new epoch is written), recording this naming if none is. */
  async again(): Promise<void> {
    await this.#pending?.catch(() => undefined);
    await this.start();
  }

  private start(): Promise<void> {
    const pending = this.run().finally(() => {
      if (this.#pending === pending) this.#pending = undefined;
    });
    this.#pending = pending;
    return pending;
  }

  private async run(): Promise<void> {
    let recorded: string;
    try {
      recorded = await this.connection.run(
        'namingCheck',
        (redis) => redis.tokenwardenNamingCheck(this.recordKey, this.epochKey, this.tag),
        (reply) => {
          if (typeof reply !== 'string' || reply === '') throw unexpectedReply('namingCheck');
          return reply;
        },
      );
    } catch (error) {
      // Unreachable: a check that passed before stays trusted until it can be made again.
      if (this.#passedUntil >= 0) this.#passedUntil = performance.now() + NAMING_RECHECK_MS;
      throw error;
    }
    if (recorded !== this.tag) {
      this.#passedUntil = -1;
      throw namingMismatch(recorded, this.tag);
    }
    this.#passedUntil = performance.now() + NAMING_RECHECK_MS;
  }
}

/** The error of a store whose naming differs from the one Redis records. */
export function namingMismatch(recorded: string, configured: string): ConfigError {
  const describe = (tag: string) =>
    tag === CLEAR_NAMES ? 'the ids in clear' : `keyed hashes (${tag})`;
  return new ConfigError(
    `RedisStore option 'subjectNameKey': the keys in Redis name data subjects with ${describe(recorded)}, this store with ${describe(configured)}; it refuses every call, since it would miss the revocations and consent records written under the other names. Give every node the same subjectNameKey, or move the keys with 'tokenwarden state migrate-keys --hash-subject-names'`,
  );
}
