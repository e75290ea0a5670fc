import type { Command } from 'commander';
import type { CliIo } from '../program';

/** `tokenwarden revoke|consent|keys|apikey|policy`. */
export function registerLifecycleCommands(_program: Command, _io: CliIo): void {}
