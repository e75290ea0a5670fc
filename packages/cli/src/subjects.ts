import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { AuditOptions, AuditSink } from '@tokenwarden/core';
import {
  FileSubjectKeyStore,
  PSEUDONYM_KEY_NAME,
  SubjectOpener,
  type AuditEvent,
  type MasterKey,
  type SubjectKeyOptions,
  type SubjectKeyStore,
} from '@tokenwarden/core/internal';
import { RedisSubjectKeyStore, subjectNameKey } from '@tokenwarden/redis';
import type { CliIo } from './io';
import { masterKeyOf } from './keys/master-key';
import { CliError, cliLogger, globalOptions, redisUrl } from './shared';

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

/** The sealing of the audit events one CLI run writes; see {@link subjectSealingOf}. */
export interface CliSubjectSealing {
  /** `audit` with `subjectKeys`, or with sinks that warn once about events naming a person. */
  audit(audit: AuditOptions): AuditOptions;
  /** Releases the subject key store; call it after the admin closed. */
  close(): Promise<void>;
}

/** Whether an event names a person in clear: a subject or data subject, and nothing sealed. */
function namesInClear(event: AuditEvent): boolean {
  return (event.subject !== undefined || event.dataSubject !== undefined) && !event.sealed;
}

/**
 * Seals the audit events a CLI command writes as the API nodes seal theirs, with
 * {@link subjectKeysOf}. Without a master key the events keep identifiers in clear; when one of
 * them names a data subject and the subject key store holds a pseudonym key (the trail is
 * sealed), or cannot be asked, one warning on standard error says so and how to seal it.
 */
export function subjectSealingOf(
  command: Command,
  flags: SubjectKeyFlags,
  io: CliIo,
): CliSubjectSealing {
  const subjectKeys = subjectKeysOf(command, flags, io);
  if (subjectKeys !== undefined) {
    return {
      audit: (audit) => ({ ...audit, subjectKeys }),
      close: async () => {
        await subjectKeys.store.close?.();
      },
    };
  }
  let probe: SubjectKeyStore | undefined;
  let checked = false;
  const check = async (events: readonly AuditEvent[]) => {
    if (checked || !events.some(namesInClear)) return;
    checked = true;
    let sealedTrail = true;
    try {
      probe = subjectKeyStoreOf(command, flags, io);
      if (probe !== undefined) {
        sealedTrail = (await probe.load([PSEUDONYM_KEY_NAME])).has(PSEUDONYM_KEY_NAME);
      }
    } catch {
      // Unknown whether the trail is sealed: say so rather than keep silent.
    }
    if (!sealedTrail) return;
    cliLogger(command, io).warn(
      'this audit event names a data subject in clear, while the trail seals data subjects: `tokenwarden erase --subject` cannot make it unreadable. Set TOKENWARDEN_MASTER_KEY (or pass --master-key-file) to seal the events of the CLI',
    );
  };
  return {
    audit: (audit) => ({
      ...audit,
      sinks: audit.sinks?.map((sink): AuditSink => ({
        name: sink.name,
        write: async (events) => {
          await check(events).catch(() => undefined);
          await sink.write(events);
        },
        close: () => sink.close?.() ?? Promise.resolve(),
      })),
    }),
    close: async () => {
      await probe?.close?.();
    },
  };
}

/**
 * The RedisStore `subjectNameKey`: `--subject-name-key-file`, else `$TOKENWARDEN_SUBJECT_NAME_KEY`.
 * Undefined when neither is given and `required` is false. Never echoed.
 */
export function subjectNameKeyOf(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  required: boolean,
): Buffer | undefined {
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(
        `cannot read the subject name key file ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        2,
      );
    }
  } else text = env.TOKENWARDEN_SUBJECT_NAME_KEY;
  if (text === undefined || text === '') {
    if (!required) return undefined;
    throw new CliError(
      'the subjectNameKey is needed: pass --subject-name-key-file FILE or set TOKENWARDEN_SUBJECT_NAME_KEY',
      2,
    );
  }
  try {
    return subjectNameKey(text);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), 2);
  }
}

/**
 * The naming option of every `RedisStore` the CLI opens: `subjectNameKey` from
 * `$TOKENWARDEN_SUBJECT_NAME_KEY` when set, so the CLI reads and writes the keys a deployment with
 * hashed subject names uses (a store named otherwise refuses to serve).
 */
export function storeNamingOf(io: CliIo): { subjectNameKey?: Buffer } {
  const key = subjectNameKeyOf(undefined, io.env, false);
  return key === undefined ? {} : { subjectNameKey: key };
}
