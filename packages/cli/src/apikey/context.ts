import type { Command } from 'commander';
import { ConfigError, createAdmin, type WardenAdmin } from '@tokenwarden/core';
import { loadPolicyFile, type Policy } from '@tokenwarden/core/policy';
import { RedisCredentialStore, RedisStore } from '@tokenwarden/redis';
import {
  addAuditOptions,
  auditDestination,
  openAuditSinks,
  type AuditFlags,
} from '../audit/destination';
import { parsePointInTime } from '../audit/time';
import type { CliIo } from '../io';
import { CliError, cliLogger, globalOptions, redisUrl } from '../shared';
import {
  addSubjectKeyOptions,
  storeNamingOf,
  subjectSealingOf,
  type SubjectKeyFlags,
} from '../subjects';

export {
  addAuditOptions,
  auditDestination,
  openAuditSinks,
  type AuditDestination,
  type AuditFlags,
  type CliAuditSinks,
} from '../audit/destination';

/** Deadline of each Redis call the CLI makes, in ms: generous, an operator is waiting. */
const COMMAND_TIMEOUT_MS = 3_000;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses a duration such as `90d`, `24h`, `15m`, `30s` or `500ms` (a bare number is seconds).
 * @throws CliError naming the option, with exit code 2.
 */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d{1,9})\s*(ms|s|m|min|h|d|w)?$/.exec(value.trim());
  if (!match) {
    throw new CliError(`${option} must be a duration such as 90d, 24h, 15m or 30s`, 2);
  }
  return Number(match[1]) * UNITS[match[2] ?? 's']!;
}

/**
 * Parses a time, in the one format family every time option of the CLI accepts: an ISO 8601
 * date or date-time (`2030-01-31T12:00:00Z`), epoch milliseconds, `now`, or a duration
 * (`30m`, `24h`, `7d`). A duration counts back from now (`--before 7d`: seven days ago),
 * except for the `--expires-…` options, where it counts ahead (`--expires-at 30d`).
 * @throws CliError naming the option, with exit code 2.
 */
export function parseTime(
  value: string,
  option: string,
  now: number,
  direction: 'back' | 'ahead' = option.startsWith('--expires') ? 'ahead' : 'back',
): number {
  return parsePointInTime(value, option, now, direction);
}

/**
 * The options a read-only command passes to {@link withLifecycle}: it changes nothing, so it
 * takes no audit or lifetime flags.
 */
export const READ_ONLY: LifecycleOptions = { maxTokenLifetime: '24h', readOnly: true };

/** Who makes the change, for the audit trail: `--actor`, else `$TOKENWARDEN_ACTOR`, `$USER`. */
export function actorOf(options: { readonly actor?: string }, io: CliIo): string {
  return options.actor ?? io.env.TOKENWARDEN_ACTOR ?? io.env.USER ?? 'tokenwarden-cli';
}

/** Adds the options every lifecycle command shares. */
export function addLifecycleOptions(command: Command): Command {
  return addAuditOptions(command).option(
    '--max-token-lifetime <duration>',
    "the API's longest token lifetime: how long revocation marks are kept",
    '24h',
  );
}

/** Adds `--policy`, for commands the policy file constrains. */
export function addPolicyOption(command: Command): Command {
  return command.option(
    '--policy <file>',
    'policy file whose limits apply (default: $TOKENWARDEN_POLICY)',
  );
}

/**
 * The policy named by `--policy` or `$TOKENWARDEN_POLICY`, loaded and validated, or `undefined`.
 * @throws CliError (exit 2) with the policy's findings when it does not load.
 */
export function policyOf(options: { readonly policy?: string }, io: CliIo): Policy | undefined {
  const file = options.policy ?? io.env.TOKENWARDEN_POLICY;
  if (file === undefined || file === '') return undefined;
  try {
    return loadPolicyFile(file);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

/**
 * Adds the options of a lifecycle command whose audit events name a data subject: those of
 * {@link addLifecycleOptions}, and the subject keys and master key that seal the data subject
 * (as the API nodes seal theirs).
 */
export function addSubjectLifecycleOptions(command: Command): Command {
  return addSubjectKeyOptions(addLifecycleOptions(command));
}

/**
 * Options added by {@link addLifecycleOptions}; the subject key flags come with
 * {@link addSubjectLifecycleOptions} (or a command's own `--master-key-file`).
 */
export interface LifecycleOptions extends AuditFlags, SubjectKeyFlags {
  readonly maxTokenLifetime: string;
}

/** The stores and admin of one CLI run; `close()` releases them all. */
export interface Lifecycle {
  readonly admin: WardenAdmin;
  readonly credentials: RedisCredentialStore;
  readonly actor: string;
  close(): Promise<void>;
}

/**
 * Opens the Redis stores named by the global options (`--redis-url` or `$REDIS_URL`,
 * `--prefix`) and an admin whose audit events go where {@link auditDestination} says (the Redis
 * audit stream, `--audit-file`); a change with nowhere to record it is refused before it is made.
 * Data subjects in those events are sealed when a master key is given ({@link subjectSealingOf}).
 * The URL is validated before anything else, and never printed.
 */
export function openLifecycle(
  command: Command,
  io: CliIo,
  options: LifecycleOptions,
  purposes: readonly string[] = [],
): Lifecycle {
  const url = redisUrl(command, io);
  const prefix = globalOptions(command).prefix;
  const maxLifetimeMs = parseDuration(options.maxTokenLifetime, '--max-token-lifetime');
  // Usage errors (no audit destination, an unreadable master key) before any connection opens.
  const writes = auditDestination(url, prefix, options, io).mode === 'write';
  const sealing = writes ? subjectSealingOf(command, options, io) : undefined;
  const sinks = openAuditSinks(url, prefix, options, io);
  const audit = sinks.audit === false || sealing === undefined ? false : sealing.audit(sinks.audit);
  const logger = cliLogger(command, io);
  const store = new RedisStore({
    url,
    prefix,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    logger,
    ...storeNamingOf(io),
  });
  const credentials = new RedisCredentialStore({
    url,
    prefix,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  });
  let admin: WardenAdmin;
  try {
    admin = createAdmin({ store, purposes, maxLifetimeMs, audit, logger });
  } catch (error) {
    const sinkList = sinks.audit === false ? [] : (sinks.audit.sinks ?? []);
    void Promise.all([
      store.close(),
      credentials.close(),
      sealing?.close(),
      ...sinkList.map((sink) => sink.close?.()),
    ]).catch(() => undefined);
    throw error;
  }
  return {
    admin,
    credentials,
    actor: actorOf(options, io),
    async close() {
      try {
        await admin.close();
      } finally {
        await Promise.all([store.close(), credentials.close(), sealing?.close()]);
      }
      sinks.check();
    },
  };
}

/** Runs `action` with an open lifecycle and always closes it. */
export async function withLifecycle<T>(
  command: Command,
  io: CliIo,
  options: LifecycleOptions,
  action: (lifecycle: Lifecycle) => Promise<T>,
  purposes: readonly string[] = [],
): Promise<T> {
  const lifecycle = openLifecycle(command, io, options, purposes);
  let result: T;
  try {
    result = await action(lifecycle);
  } catch (error) {
    // The action's error is the one to report; closing still releases the connections.
    await lifecycle.close().catch(() => undefined);
    throw error;
  }
  await lifecycle.close();
  return result;
}

/** An ISO 8601 time, or `-` for none. */
export function isoTime(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString();
}

/** Rows as aligned columns, for people. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Label/value lines, aligned, for people. */
export function pairs(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n');
}
