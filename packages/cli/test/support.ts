/**
 * Helpers shared by the CLI tests: captured output streams and a policy file of the examples'
 * shape. Not a test file; jest only runs `*.test.ts`.
 */
import { PassThrough } from 'node:stream';
import { runCli, type CliIo } from '@tokenwarden/cli';

/** An io whose output is captured; read it with `out()` and `err()`. */
export function captureIo(env: NodeJS.ProcessEnv = {}): {
  io: CliIo;
  out: () => string;
  err: () => string;
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr, env }, out: () => out, err: () => err };
}

/** Runs the CLI with captured output; resolves the exit code and both outputs. */
export async function runCaptured(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  const run = captureIo(env);
  const code = await runCli(argv, run.io);
  return { code, out: run.out(), err: run.err() };
}

export { TEST_POLICY } from '@tokenwarden/testing';
