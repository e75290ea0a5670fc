import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden policy`: check a policy file. */
export function registerPolicyCommands(program: Command, _io: CliIo): void {
  program.command('policy').description('check a policy file');
}
