import type { Command } from 'commander';
import {
  FileSubjectKeyStore,
  SubjectOpener,
  type MasterKey,
  type SubjectKeyOptions,
  type SubjectKeyStore,
} from '@tokenwarden/core/internal';
import { RedisSubjectKeyStore } from '@tokenwarden/redis';
import type { CliIo } from './io';
import { masterKeyOf } from './keys/master-key';
import { CliError, globalOptions, redisUrl } from './shared';

/** Options added by {@link addSubjectKeyOptions}. */
export interface SubjectKeyFlags {
  readonly subjectKeys?: string;
  readonly masterKeyFile?: string;
  readonly previousMasterKeyFile?: string;
}

/** Adds where the per-data-subject keys are and the master key that wraps them. */
export function addSubjectKeyOptions(command: Command, withMasterKey = true): Command {
  const out = command.option(
    '--subject-keys <dir>',
    'directory of the data subject keys (a FileSubjectKeyStore; default: $TOKENWARDEN_SUBJECT_KEYS, else the Redis of --redis-url)',
  );
  return withMasterKey
    ? out.option(
        '--master-key-file <file>',
        'master key that wraps the data subject keys (default: $TOKENWARDEN_MASTER_KEY)',
      )
    : out;
}

/**
 * The subject key store of the flags: `--subject-keys` (or `$TOKENWARDEN_SUBJECT_KEYS`), else the
 * Redis of the global options when one is given, else `undefined`.
 */
export function subjectKeyStoreOf(
  command: Command,
  flags: SubjectKeyFlags,
  io: CliIo,
): SubjectKeyStore | undefined {
  const dir = flags.subjectKeys ?? (io.env.TOKENWARDEN_SUBJECT_KEYS || undefined);
  if (dir !== undefined) return new FileSubjectKeyStore(dir);
  const url = globalOptions(command).redisUrl ?? io.env.REDIS_URL;
  if (url === undefined || url === '') return undefined;
  return new RedisSubjectKeyStore({
    url: redisUrl(command, io),
    prefix: globalOptions(command).prefix,
    commandTimeoutMs: 5_000,
  });
}

/** The master keys of the flags: current first, then `--previous-master-key-file`. */
export function masterKeysOf(flags: SubjectKeyFlags, io: CliIo, required: boolean): MasterKey[] {
  const current = masterKeyOf(
    flags.masterKeyFile,
    io.env,
    false,
    '--master-key-file (or TOKENWARDEN_MASTER_KEY)',
  );
  if (current === undefined) {
    if (!required) return [];
    throw new CliError(
      'the data subject keys are wrapped by the master key: pass --master-key-file FILE or set TOKENWARDEN_MASTER_KEY',
      2,
    );
  }
  const previous =
    flags.previousMasterKeyFile === undefined
      ? undefined
      : masterKeyOf(flags.previousMasterKeyFile, {}, true, '--previous-master-key-file');
  return previous === undefined ? [current] : [current, previous];
}

/**
 * What reading tools use to show sealed events: identifiers with the master key and the subject
 * key store, `erased:<pseudonym>` for erased subjects, pseudonyms otherwise (and a note on
 * standard error saying why). `close()` releases the store.
 */
export function subjectOpenerOf(
  command: Command,
  flags: SubjectKeyFlags,
  io: CliIo,
): { opener: SubjectOpener; close: () => Promise<void> } {
  const masters = masterKeysOf(flags, io, false);
  const store = masters.length === 0 ? undefined : subjectKeyStoreOf(command, flags, io);
  let noted = false;
  const opener = new SubjectOpener({ store, masterKeys: masters });
  const note = () => {
    if (noted || opener.canDecrypt) return;
    noted = true;
    io.stderr.write(
      masters.length === 0
        ? 'tokenwarden: no master key (--master-key-file or TOKENWARDEN_MASTER_KEY): data subjects are shown as pseudonyms\n'
        : 'tokenwarden: no data subject key store (--subject-keys or --redis-url): data subjects are shown as pseudonyms\n',
    );
  };
  return {
    opener: {
      canDecrypt: opener.canDecrypt,
      open: (event) => {
        if (event.sealed !== undefined) note();
        return opener.open(event);
      },
    } as SubjectOpener,
    close: async () => {
      await store?.close?.();
    },
  };
}

/**
 * `audit.subjectKeys` for the events a CLI command writes, so they are sealed as the API nodes
 * seal theirs: when a master key is given (`--master-key-file` or `$TOKENWARDEN_MASTER_KEY`) and a
 * subject key store is known (`--subject-keys`, `$TOKENWARDEN_SUBJECT_KEYS`, or the Redis of
 * `--redis-url`); else `undefined` (events keep identifiers in clear). Close the store after the
 * admin closed.
 */
export function subjectKeysOf(
  command: Command,
  flags: SubjectKeyFlags,
  io: CliIo,
): SubjectKeyOptions | undefined {
  const [masterKey, ...previousMasterKeys] = masterKeysOf(flags, io, false);
  if (masterKey === undefined) return undefined;
  const store = subjectKeyStoreOf(command, flags, io);
  return store === undefined ? undefined : { store, masterKey, previousMasterKeys };
}
