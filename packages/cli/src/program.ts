import { Command } from 'commander';
import { registerAuditCommands } from './commands/audit';
import { registerApiKeyCommands } from './commands/apikey';
import { registerConsentCommands } from './commands/consent';
import { registerKeysCommands } from './commands/keys';
import { registerPolicyCommands } from './commands/policy';
import { registerReportCommands } from './commands/report';
import { registerRevokeCommands } from './commands/revoke';
import { registerStateCommands } from './commands/state';
import type { CliIo } from './io';
import { addGlobalOptions, CliError } from './shared';

/** Builds the `tokenwarden` program with every command group registered. */
export function createProgram(io: CliIo): Command {
  const program = new Command('tokenwarden')
    .description(
      'Tokenwarden operations: revocation, consent, state, keys, API keys, audit trail, reports',
    )
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();
  addGlobalOptions(program);
  registerAuditCommands(program, io);
  registerRevokeCommands(program, io);
  registerConsentCommands(program, io);
  registerStateCommands(program, io);
  registerKeysCommands(program, io);
  registerApiKeyCommands(program, io);
  registerPolicyCommands(program, io);
  registerReportCommands(program, io);
  return program;
}

/** Runs the CLI with the given arguments (without `node` and the script); resolves the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr.write(`tokenwarden: ${error.message}\n`);
      return error.exitCode;
    }
    const code = (error as { exitCode?: unknown }).exitCode;
    if (typeof code === 'number') return code;
    io.stderr.write(`tokenwarden: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
