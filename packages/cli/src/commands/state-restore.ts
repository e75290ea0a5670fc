import type { Command } from 'commander';
import { DEFAULTS } from '@tokenwarden/core';
import {
  JsonLinesSource,
  StreamingChainCheck,
  type AuditSource,
  type ChainVerdict,
} from '@tokenwarden/core/reports';
import { RedisAuditSource, RedisStore, checkedUrl } from '@tokenwarden/redis';
import {
  addLifecycleOptions,
  pairs,
  parseDuration,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, chainKeyOf, cliLogger, globalOptions, print, redisUrl } from '../shared';
import { STREAM_TIMEOUT_MS, describeEpoch, epochStoreOf, guarded } from '../state/epoch';
import { storeNamingOf } from '../subjects';
import {
  addRecordCipherOption,
  readingSealed,
  recordCipherOf,
  type RecordCipherFlags,
} from '../state/record-cipher';
import { StateReplay, type ReplaySummary } from '../state/replay';

interface RestoreOptions extends LifecycleOptions, RecordCipherFlags {
  readonly from?: string;
  readonly fromPrefix?: string;
  readonly chainKeyFile?: string;
  readonly ignoreChain?: boolean;
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
  const needsKey = verdict.chains.some((c) => c.problems.some((p) => p.kind === 'unverifiable'));
  const parts = [
    ...(needsKey
      ? [
          'the chain is keyed: pass its key (--chain-key-file or $TOKENWARDEN_AUDIT_CHAIN_KEY) to check it',
        ]
      : []),
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

/**
 * `tokenwarden state restore`: rebuilds revocations, not-before marks and consent records from the
 * audit trail, refusing a trail whose chain does not verify unless `--ignore-chain`, then starts a
 * new epoch.
 */
export function registerStateRestore(state: Command, io: CliIo): void {
  addLifecycleOptions(
    addRecordCipherOption(state.command('restore'))
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
    const recordCipher = recordCipherOf(options, io);
    // Consent records are written sealed through a store with the nodes' record cipher.
    const sealed =
      recordCipher === undefined
        ? undefined
        : new RedisStore({
            url: redisUrl(command, io),
            prefix: globalOptions(command).prefix,
            commandTimeoutMs: STREAM_TIMEOUT_MS,
            logger: cliLogger(command, io),
            recordCipher,
            ...storeNamingOf(io),
          });
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
          const summary = await readingSealed(() => replay.apply(sealed ?? store));
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
      await sealed?.close();
    }
  });
}
