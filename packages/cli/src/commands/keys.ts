import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden keys`: signing keys: rotate, list, publish the JWKS. */
export function registerKeysCommands(program: Command, _io: CliIo): void {
  program.command('keys').description('signing keys: rotate, list, publish the JWKS');
}
