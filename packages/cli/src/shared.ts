import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TokenwardenError } from '@tokenwarden/core';
import { escapeJsonText, escapeText } from '@tokenwarden/core/internal';
import { checkedUrl } from '@tokenwarden/redis';
import type { CliIo } from './io';

/**
 * Exit codes, the same for every command: {@link EXIT_OK} when it did its work (or printed the
 * help or version), {@link EXIT_FAILURE} when it could not (Redis unreachable, a check that
 * fails, a record that does not exist), {@link EXIT_USAGE} when it was called wrongly.
 */
export const EXIT_OK = 0;

/** The exit code of a command that could not do its work. */
export const EXIT_FAILURE = 1;

/** The exit code of a command called wrongly (a missing or malformed option or value). */
export const EXIT_USAGE = 2;

/**
 * An error the CLI reports as one line on stderr, with its exit code (default 1). Its `code` is
 * `cli_usage` for exit code 2 (the command was called wrongly) and `cli_failed` otherwise (the
 * command could not do its work).
 */
export class CliError extends TokenwardenError {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(exitCode === EXIT_USAGE ? 'cli_usage' : 'cli_failed', message);
    this.name = 'CliError';
  }
}

/**
 * Ends a command with an exit code and no message: its answer is already printed (as for
 * `consent show` of a record that does not exist, exit 1).
 */
export class CliExit extends CliError {
  constructor(exitCode: number) {
    super('', exitCode);
    this.name = 'CliExit';
  }
}

/** Options every command inherits from the program (`--redis-url`, `--prefix`, `--json`). */
export interface GlobalOptions {
  readonly redisUrl?: string;
  readonly prefix?: string;
  readonly json?: boolean;
}

/** Adds the options every command shares. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option('--redis-url <url>', 'Redis to use (default: $REDIS_URL)')
    .option('--prefix <prefix>', 'key prefix of the Tokenwarden keys (default: tokenwarden:)')
    .option('--json', 'print JSON for scripts instead of text for people, errors included');
}

const TIME_KEYS = new Set(['before', 'since', 'until', 'time', 'at', 'keepUntil']);

/**
 * A JSON answer with its times as ISO 8601 strings: every epoch-milliseconds number under a key
 * ending in `At` (`grantedAt`, `expiresAt`…) or named `before`, `since`, `until`, `time`.
 */
export function isoTimes(value: unknown, key = ''): unknown {
  if (typeof value === 'number') {
    const isTime = /[a-z]At$/.test(key) || TIME_KEYS.has(key);
    return isTime && Number.isFinite(value) ? new Date(value).toISOString() : value;
  }
  if (Array.isArray(value)) return value.map((item) => isoTimes(item, key));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isoTimes(v, k)]));
  }
  return value;
}

/** The program-level options as seen from a sub-command. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * Where the stores and the admin of a command report warnings: one line on stderr,
 * `tokenwarden: …`, or with `--json` one JSON document `{"warning":{"message":…}}`.
 */
export function cliLogger(
  command: Command,
  io: CliIo,
): { warn(message: string): void; error(message: string): void } {
  const json = globalOptions(command).json === true;
  const write = (message: string) =>
    void io.stderr.write(
      json ? JSON.stringify({ warning: { message } }) + '\n' : `tokenwarden: ${message}\n`,
    );
  return { warn: write, error: write };
}

/**
 * The Redis URL to use: `--redis-url`, else `$REDIS_URL`. Validated without echoing it (it may
 * hold a password); a missing or malformed URL is a CliError saying what to pass.
 */
export function redisUrl(command: Command, io: CliIo): string {
  const url = globalOptions(command).redisUrl ?? io.env.REDIS_URL;
  if (url === undefined || url === '') {
    throw new CliError('no Redis to use: pass --redis-url redis://host:6379 or set REDIS_URL', 2);
  }
  try {
    return checkedUrl(url, '--redis-url (or REDIS_URL)');
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), 2);
  }
}

/**
 * Prints a result: JSON (one document, for scripts, its times in ISO 8601) with `--json`,
 * otherwise the human text. Control, separator and bidi characters of the values (a subject, a
 * client id) are escaped either way: as JSON escapes in JSON, as `\u{85}` in each line of text.
 */
export function print(command: Command, io: CliIo, value: unknown, human: () => string): void {
  if (globalOptions(command).json === true) {
    io.stdout.write(escapeJsonText(JSON.stringify(isoTimes(value))) + '\n');
  } else {
    const text = human()
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => escapeText(line))
      .join('\n');
    io.stdout.write(text + '\n');
  }
}

/** The chain key, from `--chain-key-file` or `$TOKENWARDEN_AUDIT_CHAIN_KEY`. */
export async function chainKeyOf(
  flags: { readonly chainKeyFile?: string },
  io: CliIo,
): Promise<Buffer | undefined> {
  if (flags.chainKeyFile !== undefined) {
    let bytes: Buffer;
    try {
      bytes = await readFile(flags.chainKeyFile);
    } catch {
      throw new CliError('--chain-key-file cannot be read', 2);
    }
    // A trailing newline from an editor or `echo` is not part of the key.
    const end = bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
    return bytes.subarray(0, end);
  }
  const env = io.env.TOKENWARDEN_AUDIT_CHAIN_KEY;
  return env === undefined || env === '' ? undefined : Buffer.from(env, 'utf8');
}
