#!/usr/bin/env node
import { isBrokenPipe, runCli } from './program';

// `tokenwarden audit export | head`: once the reader has gone, stop quietly with exit code 0
// (what it read was complete) instead of an unhandled EPIPE and a stack trace.
process.stdout.on('error', (error: unknown) => {
  if (isBrokenPipe(error)) process.exit(0);
  throw error;
});

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `tokenwarden: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
