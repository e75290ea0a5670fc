import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden consent`: grant, withdraw and show consent records. */
export function registerConsentCommands(program: Command, _io: CliIo): void {
  program.command('consent').description('grant, withdraw and show consent records');
}
