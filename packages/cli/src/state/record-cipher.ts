import type { Command } from 'commander';
import { ConfigError, RecordCipher, StoreUnavailableError } from '@tokenwarden/core/internal';
import type { CliIo } from '../io';
import { masterKeyOf } from '../keys/master-key';
import { CliError } from '../shared';

/** Options added by {@link addRecordCipherOption}. */
export interface RecordCipherFlags {
  readonly masterKeyFile?: string;
}

/** Adds the master key that seals consent records at rest (`RedisStore` option `recordCipher`). */
export function addRecordCipherOption(command: Command): Command {
  return command.option(
    '--master-key-file <file>',
    'the master key the nodes seal consent records with (recordCipher): read them sealed, write them sealed (default: $TOKENWARDEN_MASTER_KEY)',
  );
}

/** The record cipher of `--master-key-file` (or `$TOKENWARDEN_MASTER_KEY`), or `undefined`. */
export function recordCipherOf(flags: RecordCipherFlags, io: CliIo): RecordCipher | undefined {
  const master = masterKeyOf(flags.masterKeyFile, io.env, false);
  return master === undefined ? undefined : new RecordCipher(master);
}

/**
 * Runs `action`, telling a consent record that cannot be read for want of the master key (or
 * with the wrong one) from a Redis that cannot be reached: the store reports both as
 * `StoreUnavailableError`.
 */
export async function readingSealed<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    // The store's read of one record, or the migration's check before it writes anything.
    const unsealed =
      (error instanceof StoreUnavailableError &&
        error.message.startsWith('the consent record is encrypted')) ||
      (error instanceof ConfigError && error.message.startsWith('the consent records are sealed'));
    if (unsealed) {
      throw new CliError(
        'the consent records are sealed with the master key: pass --master-key-file FILE or set TOKENWARDEN_MASTER_KEY',
        2,
      );
    }
    if (
      error instanceof StoreUnavailableError &&
      error.message.startsWith('a consent record cannot be opened')
    ) {
      throw new CliError(error.message, 1);
    }
    throw error;
  }
}
