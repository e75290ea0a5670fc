import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden apikey`: API keys: create, rotate, revoke, list. */
export function registerApiKeyCommands(program: Command, _io: CliIo): void {
  program.command('apikey').description('API keys: create, rotate, revoke, list');
}
