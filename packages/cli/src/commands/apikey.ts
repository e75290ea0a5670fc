import type { Command } from 'commander';
import {
  ApiKeyError,
  ApiKeys,
  ConfigError,
  apiKeyOptionsFromPolicy,
  type ApiKeyRecord,
  type ApiKeysOptions,
} from '@tokenwarden/core';
import {
  addSubjectLifecycleOptions,
  addPolicyOption,
  isoTime,
  pairs,
  parseDuration,
  policyOf,
  READ_ONLY,
  table,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, print } from '../shared';

interface CreateOptions extends LifecycleOptions {
  readonly client: string;
  readonly scope: string[];
  /** `false` with `--no-scopes`. */
  readonly scopes: boolean;
  readonly subject?: string;
  readonly name?: string;
  readonly expiresIn?: string;
  readonly maxAge?: string;
  readonly env: string;
  readonly policy?: string;
}

interface RotateOptions extends LifecycleOptions {
  readonly overlap: string;
  readonly expiresIn?: string;
  readonly maxAge?: string;
  readonly policy?: string;
}

interface RevokeOptions extends LifecycleOptions {
  readonly reason?: string;
}

interface ListOptions {
  readonly client?: string;
}

/** A record as the CLI prints it: everything but the hash, with its status. */
function shown(record: ApiKeyRecord, now: number) {
  const entries = Object.entries(record).filter(([name]) => name !== 'hash');
  return { ...Object.fromEntries(entries), status: statusOf(record, now) };
}

/** `revoked`, `expired`, `rotated` (replaced, still in its overlap) or `active`. */
export function statusOf(record: ApiKeyRecord, now: number): string {
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt <= now) return 'expired';
  if (record.replacedBy !== undefined) return 'rotated';
  return 'active';
}

/** What a new key's owner must read: the key once, then where it stands. */
function announce(key: string, record: ApiKeyRecord, heading: string): string {
  return [
    `${heading} It is shown once: store it now, it cannot be recovered.`,
    '',
    `  ${key}`,
    '',
    pairs([
      ['id', record.keyId],
      ['client', record.client],
      ['subject', record.subject],
      ['scopes', record.scopes.join(' ') || '-'],
      ['expires', isoTime(record.expiresAt)],
    ]),
  ].join('\n');
}

/**
 * Limits on new keys: the policy's (global maximum age, per-client scopes and age) when one is
 * given, and `--max-age` (default 90 days); the stricter maximum wins.
 */
function limits(
  options: { readonly maxAge?: string; readonly policy?: string },
  io: CliIo,
): Pick<ApiKeysOptions, 'maxAgeMs' | 'clientRules'> {
  const policy = policyOf(options, io);
  const flag =
    options.maxAge === undefined ? undefined : parseDuration(options.maxAge, '--max-age');
  if (policy === undefined) return { maxAgeMs: flag ?? 90 * 86_400_000 };
  const fromPolicy = apiKeyOptionsFromPolicy(policy);
  return { ...fromPolicy, maxAgeMs: Math.min(fromPolicy.maxAgeMs, flag ?? Infinity) };
}

/** A warning line for usable keys that expire within 7 days, or nothing. */
function expiringNote(records: readonly ApiKeyRecord[], now: number): string {
  const soon = records.filter(
    (r) => statusOf(r, now) === 'active' && r.expiresAt <= now + 7 * 86_400_000,
  ).length;
  return soon === 0 ? '' : `${soon} active key(s) expire within 7 days: rotate them.\n\n`;
}

/** Turns the library's refusals into one-line CLI errors. */
async function refusals<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiKeyError) throw new CliError(error.message, 1);
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    if (error instanceof TypeError) throw new CliError(error.message, 2);
    throw error;
  }
}

/**
 * `tokenwarden apikey create|rotate|revoke|list`. A new key is written once to standard output
 * (never to standard error, a log or the audit trail) and stored only as a hash.
 */
export function registerApiKeyCommands(program: Command, io: CliIo): void {
  const apikey = program
    .command('apikey')
    .description('API keys: create, rotate, revoke, list (keys are shown once, stored as hashes)');

  addSubjectLifecycleOptions(
    addPolicyOption(apikey.command('create'))
      .description('create an API key for a client; prints the key once')
      .requiredOption('--client <id>', 'the client the key belongs to')
      .option(
        '--scope <scope>',
        'a scope the key carries (repeat for more)',
        (value: string, previous: string[]) => [...previous, value],
        [],
      )
      .option('--no-scopes', 'create a key that carries no scope at all (instead of --scope)')
      .option('--subject <id>', 'subject of the principal the key yields (default: the client)')
      .option('--name <label>', 'a label for people, e.g. "nightly export"')
      .option('--expires-in <duration>', 'lifetime, e.g. 30d (default: the maximum age)')
      .option('--max-age <duration>', 'the longest lifetime allowed (default: 90d, or the policy)')
      .option('--env <name>', 'environment in the key prefix (live, test…)', 'live'),
  ).action(async (options: CreateOptions, command: Command) => {
    if (options.scope.length === 0 && options.scopes !== false) {
      throw new CliError(
        'an API key without a scope passes no route that asks for one: pass --scope <scope> (repeat for more), or --no-scopes to create it without',
        2,
      );
    }
    if (options.scope.length > 0 && options.scopes === false) {
      throw new CliError('pass --scope or --no-scopes, not both', 2);
    }
    const keyLimits = limits(options, io);
    const expiresInMs =
      options.expiresIn === undefined
        ? undefined
        : parseDuration(options.expiresIn, '--expires-in');
    await withLifecycle(command, io, options, async ({ admin, credentials, actor }) => {
      const { key, record } = await refusals(() =>
        new ApiKeys({
          store: credentials,
          audit: admin,
          ...keyLimits,
          environment: options.env,
        }).create({
          client: options.client,
          subject: options.subject,
          scopes: options.scope,
          name: options.name,
          expiresInMs,
          actor,
        }),
      );
      print(command, io, { key, ...shown(record, record.createdAt) }, () =>
        announce(key, record, 'API key created.'),
      );
    });
  });

  addSubjectLifecycleOptions(
    addPolicyOption(apikey.command('rotate'))
      .description('replace a key; the old one keeps working for the overlap window')
      .argument('<key-id>', 'id of the key to replace (ak_…)')
      .option('--overlap <duration>', 'how long the old key keeps working', '24h')
      .option('--expires-in <duration>', 'lifetime of the new key (default: the maximum age)')
      .option('--max-age <duration>', 'the longest lifetime allowed (default: 90d, or the policy)'),
  ).action(async (keyId: string, options: RotateOptions, command: Command) => {
    const keyLimits = limits(options, io);
    const overlapMs = parseDuration(options.overlap, '--overlap');
    const expiresInMs =
      options.expiresIn === undefined
        ? undefined
        : parseDuration(options.expiresIn, '--expires-in');
    await withLifecycle(command, io, options, async ({ admin, credentials, actor }) => {
      const rotated = await refusals(() =>
        new ApiKeys({ store: credentials, audit: admin, ...keyLimits }).rotate(keyId, {
          overlapMs,
          expiresInMs,
          actor,
        }),
      );
      const now = rotated.record.createdAt;
      print(
        command,
        io,
        { key: rotated.key, ...shown(rotated.record, now), previous: shown(rotated.previous, now) },
        () =>
          announce(rotated.key, rotated.record, 'API key rotated.') +
          `\n\nThe old key ${rotated.previous.keyId} keeps working until ${isoTime(rotated.previous.expiresAt)}.`,
      );
    });
  });

  addSubjectLifecycleOptions(
    apikey
      .command('revoke')
      .description('revoke a key at once')
      .argument('<key-id>', 'id of the key (ak_…)')
      .option('--reason <text>', 'why, for the audit trail (e.g. leaked)'),
  ).action(async (keyId: string, options: RevokeOptions, command: Command) => {
    await withLifecycle(command, io, options, async ({ admin, credentials, actor }) => {
      const record = await refusals(() =>
        new ApiKeys({ store: credentials, audit: admin, revoker: admin }).revoke(keyId, {
          actor,
          reason: options.reason,
        }),
      );
      print(command, io, shown(record, Date.now()), () => `API key ${record.keyId} revoked.`);
    });
  });

  apikey
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('--client <id>', 'only the keys of this client')
    .action(async (options: ListOptions, command: Command) => {
      await withLifecycle(command, io, READ_ONLY, async ({ credentials }) => {
        const records = await new ApiKeys({ store: credentials }).list({ client: options.client });
        const now = Date.now();
        print(
          command,
          io,
          records.map((r) => shown(r, now)),
          () =>
            records.length === 0
              ? 'No API keys.'
              : expiringNote(records, now) +
                table(
                  ['ID', 'CLIENT', 'NAME', 'SCOPES', 'STATUS', 'EXPIRES', 'LAST USED'],
                  records.map((r) => [
                    r.keyId,
                    r.client,
                    r.name ?? '-',
                    r.scopes.join(' ') || '-',
                    statusOf(r, now),
                    isoTime(r.expiresAt),
                    isoTime(r.lastUsedAt),
                  ]),
                ),
        );
      });
    });
}
