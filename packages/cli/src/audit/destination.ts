import type { Command } from 'commander';
import { JsonLinesSink, type AuditOptions, type AuditSink } from '@tokenwarden/core';
import { RedisStreamSink } from '@tokenwarden/redis';
import type { CliIo } from '../io';
import { CliError, EXIT_USAGE } from '../shared';

/** Deadline of each Redis call of the audit stream sink, in ms. */
const COMMAND_TIMEOUT_MS = 3_000;

/**
 * Where a command's audit events go, from `--audit-file`, `--audit-stream`, `--no-audit-stream`,
 * `--audit-stream-prefix`, `--no-audit` and `--actor`.
 */
export interface AuditFlags {
  readonly actor?: string;
  readonly auditFile?: string;
  /** `true` with `--audit-stream`, `false` with `--no-audit-stream`, else unset. */
  readonly auditStream?: boolean;
  readonly auditStreamPrefix?: string;
  /** `false` with `--no-audit`: the change is made with no audit event. */
  readonly audit?: boolean;
  /** A command that changes nothing: it opens no audit sink and needs no destination. */
  readonly readOnly?: boolean;
}

/**
 * Adds where a lifecycle command's audit events go: `--actor`, `--audit-file`, `--audit-stream`
 * (the default when the command uses Redis), `--no-audit-stream`, `--audit-stream-prefix` and
 * `--no-audit`.
 */
export function addAuditOptions(command: Command): Command {
  return command
    .option('--actor <name>', 'who makes the change, for the audit trail (default: $USER)')
    .option(
      '--audit-file <path>',
      'append the audit event to this JSON-lines file (default: $TOKENWARDEN_AUDIT_FILE)',
    )
    .option(
      '--audit-stream',
      'append the audit event to the Redis audit stream the API nodes write (the default; $TOKENWARDEN_AUDIT_STREAM=0 turns it off)',
    )
    .option('--no-audit-stream', 'do not write to the Redis audit stream (then name --audit-file)')
    .option(
      '--audit-stream-prefix <prefix>',
      "key prefix of that stream, when the nodes' RedisStreamSink uses another than --prefix (default: $TOKENWARDEN_AUDIT_STREAM_PREFIX, else --prefix)",
    )
    .option(
      '--no-audit',
      'make the change with no audit event (not recommended: the trail then misses it)',
    );
}

/** The audit sinks of one CLI run, and which of them lost an event. */
export interface CliAuditSinks {
  /** The audit settings to give an admin; `false` when the run writes no audit event. */
  readonly audit: AuditOptions | false;
  /**
   * After the admin closed (which flushes every event): a CliError naming the sinks whose last
   * write failed, so a change whose audit event is lost never ends in a silent success.
   */
  check(): void;
}

/** Where one run's audit events go, decided from the flags and environment before any change. */
export interface AuditDestination {
  /** The JSON-lines file, if any. */
  readonly file: string | undefined;
  /** Whether the Redis audit stream is written. */
  readonly stream: boolean;
  /** The key prefix of that stream; undefined: the default prefix. */
  readonly streamPrefix: string | undefined;
  /** `'none'` for a read-only command, `'off'` with `--no-audit`, else `'write'`. */
  readonly mode: 'write' | 'none' | 'off';
}

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

/**
 * Decides where a run's audit events go, and refuses a change that would leave none. Every change
 * is audited: to the Redis audit stream the API nodes write when the command uses Redis (`url`
 * given; `--no-audit-stream` or `$TOKENWARDEN_AUDIT_STREAM=0` turns it off), and to
 * `--audit-file` (or `$TOKENWARDEN_AUDIT_FILE`) when named. Call it before making the change.
 *
 * @throws CliError (exit 2) when a change has no destination and no `--no-audit`, or when
 * `--no-audit` is given with a destination.
 */
export function auditDestination(
  url: string | undefined,
  prefix: string | undefined,
  options: AuditFlags,
  io: CliIo,
): AuditDestination {
  if (url === '') url = undefined;
  if (options.readOnly === true) {
    return { file: undefined, stream: false, streamPrefix: undefined, mode: 'none' };
  }
  const envFile = io.env.TOKENWARDEN_AUDIT_FILE;
  const file = options.auditFile ?? (envFile === '' ? undefined : envFile);
  const envStream = (io.env.TOKENWARDEN_AUDIT_STREAM ?? '').toLowerCase();
  const streamWanted =
    options.auditStream ??
    (options.auditStreamPrefix !== undefined
      ? true
      : ON.has(envStream)
        ? true
        : OFF.has(envStream)
          ? false
          : url !== undefined);
  if (options.audit === false) {
    if (options.auditFile !== undefined || options.auditStream === true) {
      throw new CliError(
        '--no-audit contradicts --audit-file and --audit-stream: leave out one or the other',
        EXIT_USAGE,
      );
    }
    return { file: undefined, stream: false, streamPrefix: undefined, mode: 'off' };
  }
  if (streamWanted && url === undefined) {
    throw new CliError('--audit-stream needs Redis: pass --redis-url or set REDIS_URL', EXIT_USAGE);
  }
  if (!streamWanted && file === undefined) {
    throw new CliError(
      'this command changes state and every change must leave an audit event: keep the Redis audit stream (leave out --no-audit-stream, unset TOKENWARDEN_AUDIT_STREAM=0), or name a JSON-lines file with --audit-file (or TOKENWARDEN_AUDIT_FILE); --no-audit makes the change without one (not recommended)',
      EXIT_USAGE,
    );
  }
  const streamPrefix =
    options.auditStreamPrefix ?? (io.env.TOKENWARDEN_AUDIT_STREAM_PREFIX || undefined) ?? prefix;
  return { file, stream: streamWanted, streamPrefix, mode: 'write' };
}

/**
 * Opens the sinks {@link auditDestination} decides on. With `--no-audit` it writes a warning to
 * standard error and gives `audit: false`.
 */
export function openAuditSinks(
  url: string | undefined,
  prefix: string | undefined,
  options: AuditFlags,
  io: CliIo,
): CliAuditSinks {
  const destination = auditDestination(url, prefix, options, io);
  if (url === '') url = undefined;
  if (destination.mode !== 'write') {
    if (destination.mode === 'off') {
      io.stderr.write('tokenwarden: --no-audit: this change leaves no audit event\n');
    }
    return { audit: false, check() {} };
  }
  const sinks: AuditSink[] = [];
  if (destination.file !== undefined) sinks.push(new JsonLinesSink({ file: destination.file }));
  if (destination.stream && url !== undefined) {
    sinks.push(
      new RedisStreamSink({
        url,
        prefix: destination.streamPrefix,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
      }),
    );
  }
  const undelivered = new Set<string>();
  const watched = sinks.map((sink, i): AuditSink => {
    const name = sink.name ?? `sink ${i + 1}`;
    return {
      name: sink.name,
      write: async (events) => {
        try {
          await sink.write(events);
          undelivered.delete(name);
        } catch (error) {
          undelivered.add(name);
          throw error;
        }
      },
      close: () => sink.close?.() ?? Promise.resolve(),
    };
  });
  return {
    audit: { sinks: watched },
    check() {
      if (undelivered.size > 0) {
        throw new CliError(
          `the change was made, but its audit event could not be written to ${[...undelivered].join(', ')}`,
          1,
        );
      }
    },
  };
}
