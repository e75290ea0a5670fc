export { createProgram, runCli, type CliIo } from './program';
