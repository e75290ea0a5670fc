import {
  ConfigError,
  StoreUnavailableError,
  type StoreEpoch,
  type WardenAdmin,
} from '@tokenwarden/core';
import { isEpochStore, type EpochStore } from '@tokenwarden/core/internal';
import { AuditSourceError } from '@tokenwarden/core/reports';
import { KeyLayoutMigrationError } from '@tokenwarden/redis';
import { isoTime } from '../apikey/context';
import { CliError } from '../shared';

/** Exit code when Redis cannot be reached (as for `tokenwarden audit` and the reports). */
const EXIT_UNREACHABLE = 1;
/** Deadline of each Redis call that reads the audit stream, in ms: an operator is waiting. */
export const STREAM_TIMEOUT_MS = 5_000;

/** The store of a lifecycle, which the CLI opens as a `RedisStore` (an epoch store). */
export function epochStoreOf(admin: WardenAdmin): EpochStore {
  const store = admin.store;
  if (!isEpochStore(store)) throw new CliError('the store keeps no epoch of its state', 1);
  return store;
}

/** The epoch in one line, for people. */
export function describeEpoch(epoch: StoreEpoch): string {
  switch (epoch.status) {
    case 'current':
      return `current: epoch ${epoch.id}, ${epoch.origin} ${isoTime(epoch.since)}`;
    case 'lost':
      return `LOST: the state of epoch ${epoch.lostId} is gone (noticed ${isoTime(epoch.since)}); requests are refused with store_state_lost`;
    default:
      return 'no epoch: a new deployment, or Redis lost its state while every node restarted with it';
  }
}

/** A store failure (Redis down) as a one-line CLI error; the message names no key or URL. */
export async function guarded<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof AuditSourceError) throw new CliError(`--from: ${error.message}`, 2);
    if (error instanceof KeyLayoutMigrationError) throw new CliError(error.message, 1);
    if (error instanceof TypeError || error instanceof RangeError || error instanceof ConfigError) {
      throw new CliError(error.message, 2);
    }
    if (error instanceof StoreUnavailableError) {
      throw new CliError(`cannot reach Redis: ${error.message}`, EXIT_UNREACHABLE);
    }
    throw new CliError(error instanceof Error ? error.message : String(error), 1);
  }
}
