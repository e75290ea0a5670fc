import { randomBytes } from 'node:crypto';
import { StoreStateLostError, type EpochOrigin, type StoreEpoch } from '@tokenwarden/core/internal';
import { epochMs, unexpectedReply } from './values';

/** What a store may do when Redis holds no epoch and no record of a lost one. */
export type EpochMode = 'create' | 'require';

/** The origins an epoch hash may name. */
const ORIGINS: ReadonlySet<string> = new Set<EpochOrigin>([
  'created',
  'initialized',
  'restored',
  'accepted',
]);

/**
 * What one `RedisStore` knows of the epoch of its state: the epoch id it read last (sent with every
 * state read, so the script can tell a lost state from the state this store knew), and whether
 * its last answer was that the state is lost. Only the scripts' replies change it.
 *
 * @internal
 */
export class EpochTracker {
  #known = '';
  #lost = false;
  /** The id this store writes if it starts the first epoch of a new deployment. */
  readonly #candidate = newEpochId();

  /**
   * @param mode whether this store may start the first epoch.
   * @param onChange called when the state becomes lost (`true`) or current again (`false`).
   */
  constructor(
    readonly mode: EpochMode,
    private readonly onChange: (lost: boolean) => void,
  ) {}

  /** Whether the last answer was that the state is lost. */
  get lost(): boolean {
    return this.#lost;
  }

  /** The script arguments of the epoch check: expected id, mode, candidate id. */
  args(): [string, string, string] {
    return [this.#known, this.mode, this.#candidate];
  }

  /**
   * Takes the three epoch strings a script answered (status, id, lostAt): `undefined` when the
   * state is current (the id is adopted), else the error to reject the read with.
   * @throws StoreUnavailableError for a reply of another shape.
   */
  settle(
    status: string | undefined,
    id: string | undefined,
    lostAt: string | undefined,
    operation: string,
  ): StoreStateLostError | undefined {
    if (status === 'ok' && id !== undefined && id !== '') {
      this.adopt(id);
      return undefined;
    }
    if (status === 'lost' && id !== undefined && lostAt !== undefined) {
      const since = lostAt === '' ? undefined : epochMs(lostAt, operation);
      this.setLost(true);
      return new StoreStateLostError(
        `the state of epoch ${id} is gone from Redis${since === undefined ? '' : ` since ${new Date(since).toISOString()}`}: rebuild it with 'tokenwarden state restore', or accept the loss with 'tokenwarden state accept-loss --revoke-all'`,
        { reason: 'lost', ...(since === undefined ? {} : { since }) },
      );
    }
    if (status === 'missing') {
      this.setLost(true);
      return new StoreStateLostError(
        `Redis holds no epoch and this store may not start one (epoch: 'require'): run 'tokenwarden state init' for a new deployment, or 'tokenwarden state restore'`,
        { reason: 'missing' },
      );
    }
    throw unexpectedReply(operation);
  }

  /** Takes `id` as the epoch of the state this store reads: a current one. */
  adopt(id: string): void {
    this.#known = id;
    this.setLost(false);
  }

  private setLost(lost: boolean): void {
    if (lost === this.#lost) return;
    this.#lost = lost;
    this.onChange(lost);
  }
}

/** A new epoch id: 96 random bits, base64url. */
export function newEpochId(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * The epoch as the epoch hash holds it (id, origin, since, lost, lostAt; '' for a missing field).
 * @throws StoreUnavailableError for fields that make no epoch.
 */
export function toEpoch(fields: readonly string[], operation: string): StoreEpoch {
  const [id, origin, since, lost, lostAt] = fields;
  if (id !== undefined && id !== '') {
    if (origin === undefined || !ORIGINS.has(origin)) throw unexpectedReply(operation);
    return {
      status: 'current',
      id,
      origin: origin as EpochOrigin,
      since: epochMs(since, operation),
    };
  }
  if (lost !== undefined && lost !== '') {
    return { status: 'lost', lostId: lost, since: epochMs(lostAt, operation) };
  }
  return { status: 'missing' };
}
