export type { CliIo } from './io';
export { createProgram, runCli } from './program';
export { CliError, globalOptions, print, redisUrl, type GlobalOptions } from './shared';
