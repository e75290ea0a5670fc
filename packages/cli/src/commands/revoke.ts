import type { Command } from 'commander';
import { ApiKeyError, ApiKeys, RefreshTokens } from '@tokenwarden/core';
import {
  addLifecycleOptions,
  isoTime,
  parseTime,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, print, redisUrl } from '../shared';

interface TokenOptions extends LifecycleOptions {
  readonly expiresAt?: string;
  readonly reason?: string;
}

interface BeforeOptions extends LifecycleOptions {
  readonly before?: string;
  readonly reason?: string;
  readonly yes?: boolean;
}

/** A store refusal (Redis down) as a one-line CLI error; the message never names a key or URL. */
async function guarded<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new CliError(error.message, 2);
    }
    throw new CliError(error instanceof Error ? error.message : String(error), 1);
  }
}

/**
 * `tokenwarden revoke token|subject|client|all`: refuses tokens at once on every node that reads
 * the same Redis. A token id of an API key (`ak_…`) or a refresh-token family (`rf_…`) revokes
 * that key or family too.
 */
export function registerRevokeCommands(program: Command, io: CliIo): void {
  const revoke = program
    .command('revoke')
    .description('revoke a token, a subject, a client or everything');

  addLifecycleOptions(
    revoke
      .command('token')
      .description('refuse one token id (jti), API key id (ak_…) or refresh family (rf_…)')
      .argument('<token-id>', 'the token id')
      .option('--expires-at <time>', "the token's expiry (ISO 8601); kept until then")
      .option('--reason <text>', 'why, for the audit trail (e.g. leaked)'),
  ).action(async (tokenId: string, options: TokenOptions, command: Command) => {
    redisUrl(command, io);
    const expiresAt =
      options.expiresAt === undefined
        ? undefined
        : parseTime(options.expiresAt, '--expires-at', Date.now());
    await withLifecycle(command, io, options, ({ admin, credentials, actor }) =>
      guarded(async () => {
        const also: string[] = [];
        if (tokenId.startsWith('ak_')) {
          try {
            await new ApiKeys({ store: credentials, audit: admin, revoker: admin }).revoke(
              tokenId,
              {
                actor,
                reason: options.reason,
              },
            );
            also.push('API key');
          } catch (error) {
            if (!(error instanceof ApiKeyError)) throw error;
          }
        } else if (tokenId.startsWith('rf_')) {
          const family = new RefreshTokens({ store: credentials, revoker: admin, audit: admin });
          if (await family.revokeFamily(tokenId, { actor, reason: options.reason })) {
            also.push('refresh-token family and its access tokens');
          }
        }
        await admin.revokeToken(tokenId, { expiresAt, actor, reason: options.reason });
        print(command, io, { revoked: 'token', tokenId, also }, () =>
          [`Token ${tokenId} revoked.`, ...also.map((what) => `Also revoked: ${what}.`)].join('\n'),
        );
      }),
    );
  });

  for (const scope of ['subject', 'client'] as const) {
    addLifecycleOptions(
      revoke
        .command(scope)
        .description(`refuse every token of a ${scope} issued before now (or --before)`)
        .argument(`<${scope}>`, `the ${scope} id`)
        .option('--before <time>', 'refuse tokens issued at or before this time (ISO 8601)', 'now')
        .option('--reason <text>', 'why, for the audit trail'),
    ).action(async (id: string, options: BeforeOptions, command: Command) => {
      redisUrl(command, io);
      const before = parseTime(options.before ?? 'now', '--before', Date.now());
      await withLifecycle(command, io, options, ({ admin, actor }) =>
        guarded(async () => {
          const change = { before, actor, reason: options.reason };
          if (scope === 'subject') await admin.revokeSubject(id, change);
          else await admin.revokeClient(id, change);
          print(
            command,
            io,
            { revoked: scope, id, before },
            () =>
              `Every token of ${scope} ${id} issued at or before ${isoTime(before)} is refused.`,
          );
        }),
      );
    });
  }

  addLifecycleOptions(
    revoke
      .command('all')
      .description('refuse every token issued before now, for everyone (needs --yes)')
      .option('--before <time>', 'refuse tokens issued at or before this time (ISO 8601)', 'now')
      .option('--reason <text>', 'why, for the audit trail')
      .option('--yes', 'confirm: every client must get new tokens'),
  ).action(async (options: BeforeOptions, command: Command) => {
    // The Redis URL is checked first, so a bad one is reported even without --yes.
    redisUrl(command, io);
    const before = parseTime(options.before ?? 'now', '--before', Date.now());
    if (options.yes !== true) {
      throw new CliError('revoke all refuses every token of every client: add --yes to confirm', 2);
    }
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        await admin.revokeAll({ before, actor, reason: options.reason });
        print(
          command,
          io,
          { revoked: 'all', before },
          () => `Every token issued at or before ${isoTime(before)} is refused.`,
        );
      }),
    );
  });
}
