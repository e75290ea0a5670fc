import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './commands/audit';
import { registerApiKeyCommands } from './commands/apikey';
import { registerConsentCommands } from './commands/consent';
import { registerEraseCommand } from './commands/erase';
import { registerKeysCommands } from './commands/keys';
import { registerPolicyCommands } from './commands/policy';
import { registerReportCommands } from './commands/report';
import { registerRevokeCommands } from './commands/revoke';
import { registerStateCommands } from './commands/state';
import type { CliIo } from './io';
import { addGlobalOptions, CliError, CliExit, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './shared';
import { VERSION } from './version';

/** Builds the `tokenwarden` program with every command group registered. */
export function createProgram(io: CliIo): Command {
  const program = new Command('tokenwarden')
    .description(
      'Tokenwarden operations: revocation, consent, state, keys, API keys, audit trail, reports',
    )
    .version(VERSION, '-V, --version', 'print the version and exit')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's own usage errors are reported by runCli, as text or as JSON.
      outputError: () => undefined,
    })
    // Every command's help lists the global options it inherits.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  addGlobalOptions(program);
  registerAuditCommands(program, io);
  registerRevokeCommands(program, io);
  registerConsentCommands(program, io);
  registerEraseCommand(program, io);
  registerStateCommands(program, io);
  registerKeysCommands(program, io);
  registerApiKeyCommands(program, io);
  registerPolicyCommands(program, io);
  registerReportCommands(program, io);
  return program;
}

/** Whether `--json` comes before the end of the options (`--`), so errors are printed as JSON. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** Whether an error is the reader of standard output going away (`tokenwarden … | head`). */
export function isBrokenPipe(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EPIPE';
}

/**
 * Runs the CLI with the given arguments (without `node` and the script); resolves the exit code:
 * 0 when the command did its work, 1 when it could not, 2 when it was called wrongly. An error
 * is one line on stderr (`tokenwarden: …`), or with `--json` one JSON document
 * `{"error":{"code","message","exitCode"}}`.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  const report = (code: string, message: string, exitCode: number): number => {
    if (wantsJson(argv)) {
      io.stderr.write(JSON.stringify({ error: { code, message, exitCode } }) + '\n');
    } else {
      io.stderr.write(`tokenwarden: ${message}\n`);
    }
    return exitCode;
  };
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CliExit) return error.exitCode;
    if (error instanceof CliError) return report(error.code, error.message, error.exitCode);
    if (error instanceof CommanderError) {
      // --help and --version end with a CommanderError too, exit code 0.
      if (error.exitCode === 0) return EXIT_OK;
      return report('cli_usage', error.message.replace(/^error: /, ''), EXIT_USAGE);
    }
    // A reader that stopped reading (`| head`) is no failure: what it read was complete.
    if (isBrokenPipe(error)) return EXIT_OK;
    const code = (error as { code?: unknown }).code;
    return report(
      typeof code === 'string' && code !== '' ? code : 'cli_failed',
      error instanceof Error ? error.message : String(error),
      EXIT_FAILURE,
    );
  }
}
