import type { Command } from 'commander';
import {
  ConfigError,
  DEFAULTS,
  StoreUnavailableError,
  type StoreEpoch,
  type WardenAdmin,
} from '@tokenwarden/core';
import { isEpochStore, type EpochStore } from '@tokenwarden/core/internal';
import {
  AuditSourceError,
  JsonLinesSource,
  StreamingChainCheck,
  type AuditSource,
  type ChainVerdict,
} from '@tokenwarden/core/reports';
import {
  KeyLayoutMigrationError,
  RedisAuditSource,
  checkedUrl,
  migrateKeyLayout,
  openClient,
  type KeyLayoutMigration,
} from '@tokenwarden/redis';
import {
  addLifecycleOptions,
  isoTime,
  pairs,
  parseDuration,
  parseTime,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, chainKeyOf, globalOptions, print, redisUrl } from '../shared';
import { StateReplay, type ReplaySummary } from '../state/replay';

/** Exit code when Redis cannot be reached (as for `tokenwarden audit` and the reports). */
const EXIT_UNREACHABLE = 1;
/** Deadline of each Redis call that reads the audit stream, in ms: an operator is waiting. */
const STREAM_TIMEOUT_MS = 5_000;

interface RestoreOptions extends LifecycleOptions {
  readonly from?: string;
  readonly fromPrefix?: string;
  readonly chainKeyFile?: string;
  readonly ignoreChain?: boolean;
}

interface MigrateKeysOptions extends LifecycleOptions {
  readonly deleteOld?: boolean;
}

interface AcceptLossOptions extends LifecycleOptions {
  readonly revokeAll?: boolean;
  readonly before?: string;
}

/** The store of a lifecycle, which the CLI opens as a `RedisStore` (an epoch store). */
function epochStoreOf(admin: WardenAdmin): EpochStore {
  const store = admin.store;
  if (!isEpochStore(store)) throw new CliError('the store keeps no epoch of its state', 1);
  return store;
}

/** One line for people. */
function describeEpoch(epoch: StoreEpoch): string {
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
async function guarded<T>(action: () => Promise<T>): Promise<T> {
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

/**
 * The audit trail to restore from: a JSON-lines file or directory, `redis` (the audit stream on
 * `--redis-url`), or another Redis's URL holding the stream (`--from-prefix` names its prefix).
 */
function sourceOf(
  command: Command,
  options: RestoreOptions,
  io: CliIo,
): { source: AuditSource; close: () => Promise<void> } {
  const from = options.from;
  if (from === undefined || from === '') {
    throw new CliError(
      'state restore needs --from: a JSON-lines audit file or directory, redis (the audit stream on --redis-url) or the URL of the Redis holding the stream',
      2,
    );
  }
  if (from !== 'redis' && !/^rediss?:\/\//i.test(from)) {
    return { source: new JsonLinesSource({ path: from }), close: async () => undefined };
  }
  let url: string;
  try {
    url = from === 'redis' ? redisUrl(command, io) : checkedUrl(from, '--from');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(error instanceof Error ? error.message : String(error), 2);
  }
  const source = new RedisAuditSource({
    connection: {
      url,
      prefix: options.fromPrefix ?? globalOptions(command).prefix,
      commandTimeoutMs: STREAM_TIMEOUT_MS,
    },
  });
  return { source, close: () => source.close() };
}

/** The chain verdict in one line, for people. */
function describeChain(verdict: ChainVerdict): string {
  if (verdict.verified) {
    return `verified (${verdict.chains.length} producer${verdict.chains.length === 1 ? '' : 's'})`;
  }
  const broken = verdict.chains.filter((c) => !c.intact).map((c) => c.producer);
  const parts = [
    ...(broken.length > 0 ? [`broken chains: ${broken.join(', ')}`] : []),
    ...(verdict.unreadable > 0 ? [`${verdict.unreadable} unreadable entries`] : []),
    ...(verdict.unchained > 0 ? [`${verdict.unchained} events without chain fields`] : []),
    ...(verdict.chains.length === 0 ? ['no chained event'] : []),
  ];
  return `NOT verified (${parts.join('; ')})`;
}

function describeSummary(summary: ReplaySummary): [string, string][] {
  return [
    ['events read', String(summary.events)],
    ['revoked tokens', String(summary.tokens)],
    ['subject marks', String(summary.subjects)],
    ['client marks', String(summary.clients)],
    ['global mark', summary.all === 1 ? 'yes' : 'no'],
    ['consent records', String(summary.consents)],
    ...(summary.skipped > 0
      ? [['skipped', `${summary.skipped} events that name nothing to apply`] as [string, string]]
      : []),
  ];
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
 * `tokenwarden state status|init|restore|accept-loss|migrate-keys`: the epoch of the state the API nodes read.
 * Once Redis loses the state (restart without persistence, FLUSHALL, a failover to a replica
 * without the writes), every node refuses with 503 `store_state_lost` until `restore` rebuilds it
 * from the audit trail, or `accept-loss` accepts the loss; both then start a new epoch.
 */
export function registerStateCommands(program: Command, io: CliIo): void {
  const state = program
    .command('state')
    .description(
      'the epoch of the state the API nodes read: status, init, restore, accept-loss; migrate-keys',
    );

  addLifecycleOptions(
    state.command('status').description('show whether the state is current, lost or has no epoch'),
  ).action(async (options: LifecycleOptions, command: Command) => {
    redisUrl(command, io);
    await withLifecycle(command, io, options, ({ admin }) =>
      guarded(async () => {
        const epoch = await epochStoreOf(admin).readEpoch();
        print(command, io, epoch, () => `State: ${describeEpoch(epoch)}`);
        // A script can tell a lost state by the exit code.
        if (epoch.status === 'lost') {
          throw new CliError('the state is lost: requests are refused with store_state_lost', 1);
        }
      }),
    );
  });

  addLifecycleOptions(
    state
      .command('init')
      .description(
        "start the first epoch of a new deployment (for nodes with RedisStore epoch: 'require')",
      ),
  ).action(async (options: LifecycleOptions, command: Command) => {
    redisUrl(command, io);
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        const { written, epoch } = await epochStoreOf(admin).initializeEpoch();
        if (!written) {
          throw new CliError(
            epoch.status === 'lost'
              ? `the state was lost (${describeEpoch(epoch)}): use 'state restore' or 'state accept-loss', never init`
              : `the store has an epoch already (${describeEpoch(epoch)}): nothing to do`,
            1,
          );
        }
        admin.recordEvent({
          type: 'state.initialized',
          outcome: 'success',
          actor,
          detail: { epoch: epoch.status === 'current' ? epoch.id : '' },
        });
        print(command, io, epoch, () => `State initialised: ${describeEpoch(epoch)}`);
      }),
    );
  });

  addLifecycleOptions(
    state
      .command('restore')
      .description(
        'rebuild revocations, not-before marks and consent records from the audit trail, then start a new epoch',
      )
      .option(
        '--from <source>',
        'the audit trail: a JSON-lines file or directory (rotated files included), redis (the audit stream on --redis-url), or the redis:// URL of the Redis holding the stream',
      )
      .option(
        '--from-prefix <prefix>',
        'key prefix of the audit stream, when it is not --prefix (a RedisStreamSink with its own prefix)',
      )
      .option(
        '--chain-key-file <path>',
        'chain key of a keyed audit chain, to verify it (default: $TOKENWARDEN_AUDIT_CHAIN_KEY)',
      )
      .option(
        '--ignore-chain',
        'restore even when the audit chain does not verify (events may be missing or altered)',
      ),
  ).action(async (options: RestoreOptions, command: Command) => {
    redisUrl(command, io);
    const { source, close } = sourceOf(command, options, io);
    const chainKey = await chainKeyOf(options, io);
    const maxLifetimeMs = parseDuration(options.maxTokenLifetime, '--max-token-lifetime');
    try {
      await withLifecycle(command, io, options, ({ admin, actor }) =>
        guarded(async () => {
          const store = epochStoreOf(admin);
          const before = await store.readEpoch();
          const replay = new StateReplay({
            now: Date.now(),
            maxLifetimeMs,
            clockToleranceMs: DEFAULTS.clockToleranceMs,
          });
          const check = new StreamingChainCheck(chainKey);
          for await (const event of source.read({
            onUnreadable: (where) => check.unreadableEntry(where),
          })) {
            check.add(event);
            replay.add(event);
          }
          const chain = check.verdict();
          if (!chain.verified && options.ignoreChain !== true) {
            throw new CliError(
              `the audit trail in ${source.description} does not verify: ${describeChain(chain)}. Nothing was restored; check the trail (tokenwarden audit verify), or pass --ignore-chain to restore from it anyway`,
              1,
            );
          }
          const summary = await replay.apply(store);
          // Only now is what Redis holds trusted again: every node adopts the new epoch.
          const epoch = await store.renewEpoch('restored');
          admin.recordEvent({
            type: 'state.restored',
            outcome: 'success',
            actor,
            detail: {
              epoch: epoch.status === 'current' ? epoch.id : '',
              ...(before.status === 'lost' ? { lostEpoch: before.lostId } : {}),
              source: source.description,
              chainVerified: chain.verified,
              events: summary.events,
              tokens: summary.tokens,
              subjects: summary.subjects,
              clients: summary.clients,
              all: summary.all,
              consents: summary.consents,
            },
          });
          print(
            command,
            io,
            {
              before,
              epoch,
              source: source.description,
              chainVerified: chain.verified,
              ...summary,
            },
            () =>
              [
                `State restored from ${source.description}.`,
                '',
                pairs([
                  ['before', describeEpoch(before)],
                  ['audit chain', describeChain(chain)],
                  ...describeSummary(summary),
                  ['now', describeEpoch(epoch)],
                ]),
              ].join('\n'),
          );
        }),
      );
    } finally {
      await close();
    }
  });

  addLifecycleOptions(
    state
      .command('accept-loss')
      .description(
        'when no audit trail survives: refuse every token issued before the loss, then start a new epoch (needs --revoke-all)',
      )
      .option(
        '--revoke-all',
        'confirm: every token issued up to the loss is refused; clients must get new tokens',
      )
      .option(
        '--before <time>',
        'refuse tokens issued at or before this time (ISO 8601, or now) instead of the time the loss was noticed',
      ),
  ).action(async (options: AcceptLossOptions, command: Command) => {
    redisUrl(command, io);
    if (options.revokeAll !== true) {
      throw new CliError(
        'state accept-loss refuses every token issued before the loss: add --revoke-all to confirm (or restore the state with state restore --from <audit trail>)',
        2,
      );
    }
    const now = Date.now();
    const given =
      options.before === undefined ? undefined : parseTime(options.before, '--before', now);
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        const store = epochStoreOf(admin);
        const lost = await store.readEpoch();
        if (lost.status === 'current') {
          throw new CliError(
            `the state is not lost (${describeEpoch(lost)}): nothing to accept`,
            1,
          );
        }
        // The loss was noticed after it happened; the clock tolerance covers an issuer whose
        // clock runs ahead of the node that noticed it.
        const before =
          given ?? (lost.status === 'lost' ? lost.since + DEFAULTS.clockToleranceMs : now);
        await admin.revokeAll({ before, actor, reason: 'store_state_lost' });
        const epoch = await store.renewEpoch('accepted');
        admin.recordEvent({
          type: 'state.loss_accepted',
          outcome: 'success',
          actor,
          detail: {
            epoch: epoch.status === 'current' ? epoch.id : '',
            ...(lost.status === 'lost' ? { lostEpoch: lost.lostId } : {}),
            before,
          },
        });
        print(command, io, { before, epoch }, () =>
          [
            'Loss accepted.',
            '',
            pairs([
              ['refused', `every token issued at or before ${isoTime(before)}`],
              ['consent', 'records are gone: consent must be granted again'],
              ['now', describeEpoch(epoch)],
            ]),
          ].join('\n'),
        );
      }),
    );
  });
  addLifecycleOptions(
    state
      .command('migrate-keys')
      .description(
        "copy revocations, not-before marks and consent records from RedisStore layout 'single' ({tw} hash tag) to layout 'sharded' on the same prefix; idempotent",
      )
      .option(
        '--delete-old',
        "delete each old key once its entry is in force in the 'sharded' layout (only once no node reads the 'single' layout)",
      ),
  ).action(async (options: MigrateKeysOptions, command: Command) => {
    const url = redisUrl(command, io);
    const prefix = globalOptions(command).prefix;
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        const client = openClient(url, STREAM_TIMEOUT_MS, () => undefined, '--redis-url');
        let result: KeyLayoutMigration;
        try {
          result = await migrateKeyLayout({
            client,
            ...(prefix === undefined ? {} : { prefix }),
            deleteOld: options.deleteOld === true,
            commandTimeoutMs: STREAM_TIMEOUT_MS,
          });
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
}
