import type { Command } from 'commander';
import { DEFAULTS } from '@tokenwarden/core';
import {
  addLifecycleOptions,
  isoTime,
  pairs,
  parseTime,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, print, redisUrl } from '../shared';
import { describeEpoch, epochStoreOf, guarded } from '../state/epoch';
import { registerStateMigrateKeys } from './state-migrate';
import { registerStateRestore } from './state-restore';

interface AcceptLossOptions extends LifecycleOptions {
  readonly revokeAll?: boolean;
  readonly before?: string;
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
    // Reads only: no audit destination needed.
    await withLifecycle(command, io, { ...options, readOnly: true }, ({ admin }) =>
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

  registerStateRestore(state, io);

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
  registerStateMigrateKeys(state, io);
}
