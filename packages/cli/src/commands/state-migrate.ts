import type { Command } from 'commander';
import { openClient, migrateKeyLayout, type KeyLayoutMigration } from '@tokenwarden/redis';
import {
  addLifecycleOptions,
  pairs,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { globalOptions, print, redisUrl } from '../shared';
import { STREAM_TIMEOUT_MS, describeEpoch, guarded } from '../state/epoch';
import { addHashSubjectNames, hashSubjectNames } from './state-migrate-names';
import {
  addRecordCipherOption,
  readingSealed,
  recordCipherOf,
  type RecordCipherFlags,
} from '../state/record-cipher';

interface MigrateKeysOptions extends LifecycleOptions, RecordCipherFlags {
  readonly deleteOld?: boolean;
}

function describeMigration(result: KeyLayoutMigration): [string, string][] {
  return [
    ['revoked tokens', String(result.tokens)],
    ['subject marks', String(result.subjects)],
    ['client marks', String(result.clients)],
    ['global mark', result.all === 1 ? 'yes' : 'no'],
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
    ['old keys deleted', String(result.deleted)],
    [
      'epoch',
      `${describeEpoch(result.epoch)}${result.epochWritten ? ' (copied from the single layout)' : ''}`,
    ],
  ];
}

/**
 * `tokenwarden state migrate-keys`: copies the state from RedisStore layout 'single' to layout
 * 'sharded' on the same prefix (idempotent), optionally deleting the old keys.
 */
export function registerStateMigrateKeys(state: Command, io: CliIo): void {
  addLifecycleOptions(
    addRecordCipherOption(state.command('migrate-keys'))
      .description(
        "copy revocations, not-before marks and consent records from RedisStore layout 'single' ({tw} hash tag) to layout 'sharded' on the same prefix; idempotent",
      )
      .option(
        '--delete-old',
        "delete each old key once its entry is in force in the 'sharded' layout (only once no node reads the 'single' layout)",
      ),
  ).action(async (options: MigrateKeysOptions, command: Command) => {
    if (await hashSubjectNames(command, io)) return;
    const url = redisUrl(command, io);
    const prefix = globalOptions(command).prefix;
    const recordCipher = recordCipherOf(options, io);
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        const client = openClient(url, STREAM_TIMEOUT_MS, () => undefined, '--redis-url');
        let result: KeyLayoutMigration;
        try {
          result = await readingSealed(() =>
            migrateKeyLayout({
              client,
              ...(prefix === undefined ? {} : { prefix }),
              deleteOld: options.deleteOld === true,
              commandTimeoutMs: STREAM_TIMEOUT_MS,
              ...(recordCipher === undefined ? {} : { recordCipher }),
            }),
          );
        } finally {
          client.disconnect();
        }
        const written =
          result.tokens + result.subjects + result.clients + result.all + result.consents;
        admin.recordEvent({
          type: 'state.initialized',
          outcome: 'success',
          actor,
          detail: {
            epoch: result.epoch.status === 'current' ? result.epoch.id : '',
            layout: 'sharded',
            migratedFrom: 'single',
            tokens: result.tokens,
            subjects: result.subjects,
            clients: result.clients,
            all: result.all,
            consents: result.consents,
            unchanged: result.unchanged,
            unreadable: result.unreadable,
            deleted: result.deleted,
          },
        });
        print(command, io, result, () =>
          [
            written === 0 && result.deleted === 0
              ? "Nothing to migrate: every entry is in force in the 'sharded' layout."
              : "Keys migrated to the 'sharded' layout.",
            '',
            pairs(describeMigration(result)),
          ].join('\n'),
        );
      }),
    );
  });
  addHashSubjectNames(state);
}
