import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden revoke`: revoke a token, a subject, a client or everything. */
export function registerRevokeCommands(program: Command, _io: CliIo): void {
  program.command('revoke').description('revoke a token, a subject, a client or everything');
}
