import type { Command } from 'commander';
import { migrateSubjectNames, openClient, type SubjectNameMigration } from '@tokenwarden/redis';
import { pairs, withLifecycle, type LifecycleOptions } from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, globalOptions, print, redisUrl } from '../shared';
import { STREAM_TIMEOUT_MS, guarded } from '../state/epoch';
import { recordCipherOf } from '../state/record-cipher';
import { subjectNameKeyOf } from '../subjects';

/** The options {@link addHashSubjectNames} adds to `state migrate-keys`. */
interface HashSubjectNamesOptions extends LifecycleOptions {
  readonly hashSubjectNames?: boolean;
  readonly subjectNameKeyFile?: string;
  readonly layout?: string;
  readonly masterKeyFile?: string;
}

/**
 * Adds to `state migrate-keys` the options that move the keys named by data subject ids to the
 * hashed names of a RedisStore `subjectNameKey` (see {@link hashSubjectNames}).
 */
export function addHashSubjectNames(state: Command): void {
  const command = state.commands.find((c) => c.name() === 'migrate-keys');
  if (command === undefined) throw new TypeError('state migrate-keys is not registered');
  command
    .option(
      '--hash-subject-names',
      'instead: move subject marks, consent records and consent indexes to the hashed names of a RedisStore subjectNameKey (--subject-name-key-file or $TOKENWARDEN_SUBJECT_NAME_KEY), record that naming (stores without the key then refuse), and delete the keys named in clear',
    )
    .option(
      '--subject-name-key-file <file>',
      'the subjectNameKey (default: $TOKENWARDEN_SUBJECT_NAME_KEY), 32 bytes as hex or base64url',
    )
    .option('--layout <layout>', "the stores' layout with --hash-subject-names: single or sharded");
}

function describe(result: SubjectNameMigration): string {
  return pairs([
    ['subject marks', String(result.marks)],
    ['consent records', String(result.consents)],
    ['already in force', String(result.unchanged)],
    ['expired (skipped)', String(result.expired)],
    ...(result.unreadable > 0
      ? [
          [
            'NOT migrated',
            `${result.unreadable} keys whose id is stored hashed (longer than maxKeyLength allows); kept`,
          ] as [string, string],
        ]
      : []),
    ['keys named in clear deleted', String(result.deleted)],
    ['naming recorded', result.recorded ? 'yes (by this run)' : 'already'],
  ]);
}

/**
 * `state migrate-keys --hash-subject-names`: runs `migrateSubjectNames` on the prefix and layout
 * given, records a `state.initialized` audit event with the counts, and prints them. Answers
 * `false` without doing anything when the flag is not given.
 */
export async function hashSubjectNames(command: Command, io: CliIo): Promise<boolean> {
  const options = command.opts<HashSubjectNamesOptions>();
  if (options.hashSubjectNames !== true) return false;
  const layout = options.layout ?? 'single';
  if (layout !== 'single' && layout !== 'sharded') {
    throw new CliError("--layout must be 'single' or 'sharded'", 2);
  }
  const key = subjectNameKeyOf(options.subjectNameKeyFile, io.env, true)!;
  // With the master key, sealed consent docs are re-bound to the hashed names as they move.
  const recordCipher = recordCipherOf(options, io);
  const url = redisUrl(command, io);
  const prefix = globalOptions(command).prefix;
  await withLifecycle(command, io, options, ({ admin, actor }) =>
    guarded(async () => {
      const client = openClient(url, STREAM_TIMEOUT_MS, () => undefined, '--redis-url');
      let result: SubjectNameMigration;
      try {
        result = await migrateSubjectNames({
          client,
          ...(prefix === undefined ? {} : { prefix }),
          layout,
          subjectNameKey: key,
          ...(recordCipher === undefined ? {} : { recordCipher }),
        });
      } finally {
        client.disconnect();
      }
      admin.recordEvent({
        type: 'state.initialized',
        outcome: 'success',
        actor,
        detail: {
          layout,
          subjectNames: 'hashed',
          migratedFrom: 'clear',
          marks: result.marks,
          consents: result.consents,
          unchanged: result.unchanged,
          unreadable: result.unreadable,
          deleted: result.deleted,
        },
      });
      print(command, io, result, () =>
        [
          result.recorded
            ? 'Keys of data subjects moved to hashed names; stores without the subjectNameKey now refuse.'
            : 'The keys already use hashed names; what was left in clear was moved.',
          '',
          describe(result),
        ].join('\n'),
      );
    }),
  );
  return true;
}
