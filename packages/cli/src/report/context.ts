import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { loadPolicyFile, type Policy } from '@tokenwarden/core/policy';
import {
  AuditSourceError,
  JsonLinesSource,
  type AuditSource,
  type ReadProgress,
  type ReportFormat,
} from '@tokenwarden/core/reports';
import { RedisAuditSource } from '@tokenwarden/redis';
import { parsePointInTime } from '../audit/time';
import type { CliIo } from '../io';
import { CliError, globalOptions, redisUrl } from '../shared';
import { addSubjectKeyOptions, type SubjectKeyFlags } from '../subjects';

/** Exit code when Redis cannot be reached (as for `tokenwarden audit`). */
export const EXIT_UNREACHABLE = 1;
/** Deadline of each Redis call of a report, in ms: an operator is waiting, not a request. */
export const COMMAND_TIMEOUT_MS = 5_000;

/** Options every report command takes. */
export interface ReportFlags extends SubjectKeyFlags {
  readonly file?: string;
  readonly since?: string;
  readonly until?: string;
  readonly policy?: string;
  readonly format?: string;
  readonly output?: string;
  readonly progress?: boolean;
  readonly chainKeyFile?: string;
}

const FORMATS: readonly ReportFormat[] = ['markdown', 'text', 'html', 'json', 'csv'];

/** Adds the options every report shares; `since` is the default of `--since`. */
export function addReportOptions(
  command: Command,
  defaultFormat: ReportFormat,
  since?: string,
): Command {
  return addSubjectKeyOptions(command)
    .option(
      '--file <path>',
      'read the audit trail from a JSON-lines file, or a directory of them (rotated files included), instead of the Redis stream',
    )
    .option(
      '--since <time>',
      'from (ISO 8601, epoch ms, now, or 30m / 24h / 7d ago)',
      ...(since === undefined ? [] : [since]),
    )
    .option('--until <time>', 'to, inclusive (same forms)')
    .option(
      '--policy <file>',
      'policy file: scopes, routes, data categories (default: $TOKENWARDEN_POLICY)',
    )
    .option(
      '--format <format>',
      `${FORMATS.join(', ')} (--json is the same as --format json)`,
      defaultFormat,
    )
    .option(
      '--output <file>',
      'write the report to this file (created with mode 0600) instead of standard output',
    )
    .option('--progress', 'show a progress bar (shown anyway on a terminal)')
    .option(
      '--chain-key-file <path>',
      'chain key of a keyed audit chain, to verify it (default: $TOKENWARDEN_AUDIT_CHAIN_KEY)',
    );
}

/** The checked format: `--json` wins, else `--format`. */
export function formatOf(
  command: Command,
  flags: ReportFlags,
  fallback: ReportFormat,
): ReportFormat {
  if (globalOptions(command).json === true) return 'json';
  const format = (flags.format ?? fallback) as ReportFormat;
  if (!FORMATS.includes(format))
    throw new CliError(`--format must be one of ${FORMATS.join(', ')}`, 2);
  return format;
}

/** `--since` and `--until` as epoch ms, checked. */
export function periodOf(flags: ReportFlags, now: number): { since?: number; until?: number } {
  const since =
    flags.since === undefined ? undefined : parsePointInTime(flags.since, '--since', now);
  const until =
    flags.until === undefined ? undefined : parsePointInTime(flags.until, '--until', now);
  if (since !== undefined && until !== undefined && since > until) {
    throw new CliError('--since must not be later than --until', 2);
  }
  return { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
}

/** A point in time given to another option (`--leaked-at`). */
export function timeOption(
  value: string | undefined,
  option: string,
  now: number,
): number | undefined {
  return value === undefined ? undefined : parsePointInTime(value, option, now);
}

/** The policy of `--policy` or `$TOKENWARDEN_POLICY`, or `undefined`; a bad file exits 2. */
export function policyOf(flags: ReportFlags, io: CliIo): Policy | undefined {
  const file = flags.policy ?? io.env.TOKENWARDEN_POLICY;
  if (file === undefined || file === '') return undefined;
  try {
    return loadPolicyFile(file);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

/** Whether a Redis URL was given (`--redis-url` or `$REDIS_URL`). */
export function hasRedis(command: Command, io: CliIo): boolean {
  const url = globalOptions(command).redisUrl ?? io.env.REDIS_URL;
  return url !== undefined && url !== '';
}

/** The audit source: `--file`, else the Redis stream of the global options. */
export function sourceOf(
  command: Command,
  flags: ReportFlags,
  io: CliIo,
): { source: AuditSource; close: () => Promise<void> } {
  if (flags.file !== undefined) {
    return { source: new JsonLinesSource({ path: flags.file }), close: async () => undefined };
  }
  if (!hasRedis(command, io)) {
    throw new CliError(
      'no audit trail to read: pass --file <path> (JSON lines) or --redis-url redis://host:6379 (or set REDIS_URL)',
      2,
    );
  }
  const url = redisUrl(command, io);
  const source = new RedisAuditSource({
    connection: {
      url,
      prefix: globalOptions(command).prefix,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    },
  });
  return { source, close: () => source.close() };
}

/** A progress bar on standard error, or nothing when neither asked for nor on a terminal. */
export function progressOf(
  flags: ReportFlags,
  io: CliIo,
): {
  onProgress?: (p: ReadProgress) => void;
  stop: () => void;
} {
  const terminal = (io.stderr as { isTTY?: boolean }).isTTY === true;
  if (flags.progress !== true && !terminal) return { stop: () => undefined };
  const bar = new SingleBar({
    stream: io.stderr,
    format: 'reading the audit trail [{bar}] {percentage}% | {events} events',
    noTTYOutput: !terminal,
    notTTYSchedule: 1_000,
    hideCursor: terminal,
  });
  let started = false;
  return {
    onProgress: (p) => {
      const total = Math.max(1, p.total);
      if (!started) {
        bar.start(total, 0, { events: 0 });
        started = true;
      }
      bar.setTotal(total);
      bar.update(Math.min(total, p.done), { events: p.events });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/**
 * Runs a report: source errors become one-line CLI errors (exit 2 for an unreadable file, 3 for
 * an unreachable Redis).
 */
export async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AuditSourceError) throw new CliError(`--file: ${error.message}`, 2);
    if (error instanceof StoreUnavailableError) {
      throw new CliError(`cannot read from Redis: ${error.message}`, EXIT_UNREACHABLE);
    }
    throw error;
  }
}

/** Writes the rendered report to `--output` (mode 0600: it names people) or standard output. */
export async function emit(io: CliIo, flags: ReportFlags, text: string): Promise<void> {
  if (flags.output === undefined) {
    io.stdout.write(text);
    return;
  }
  await writePrivate(flags.output, text, '--output');
}

/** Writes a file only its owner can read (mode 0600: reports name people); `option` names it. */
export async function writePrivate(path: string, text: string, option: string): Promise<void> {
  const out = createWriteStream(path, { flags: 'w', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    out.once('error', () => reject(new CliError(`${option} cannot be written`, 2)));
    out.end(text, () => resolve());
  });
}
