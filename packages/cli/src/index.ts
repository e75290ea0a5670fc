export { createProgram, runCli, type CliIo } from './program';
export { CliError, globalOptions, print, redisUrl, type GlobalOptions } from './shared';
