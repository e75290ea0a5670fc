import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden audit tail|export|verify`. */
export function registerAuditCommands(program: Command, _io: CliIo): void {
  program.command('audit').description('follow, export and verify the audit trail');
}
