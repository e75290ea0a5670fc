/**
 * Helpers shared by the CLI tests: captured output streams and a policy file of the examples'
 * shape. Not a test file; jest only runs `*.test.ts`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';
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

/** The repository's root folder. */
export const ROOT = resolve(__dirname, '../../..');

/**
 * The test run's audit chain key (set by the jest global setup): the binary's own audit events
 * (changes it makes) need a chain key, as an operator's environment holds one.
 */
export const RUN_CHAIN_KEY: NodeJS.ProcessEnv =
  process.env.TOKENWARDEN_AUDIT_CHAIN_KEY === undefined
    ? {}
    : { TOKENWARDEN_AUDIT_CHAIN_KEY: process.env.TOKENWARDEN_AUDIT_CHAIN_KEY };

/**
 * Starts the real `tokenwarden` binary (its source, under tsx) in a child process, as a user
 * runs it. `env` is added to this process's environment, less `REDIS_URL` and the
 * `TOKENWARDEN_*` variables, so only what the test passes applies.
 */
export function spawnBin(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcessWithoutNullStreams {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k !== 'REDIS_URL' && !k.startsWith('TOKENWARDEN_')),
  );
  return spawn(
    join(ROOT, 'node_modules', '.bin', 'tsx'),
    [join(ROOT, 'packages/cli/src/bin.ts'), ...args],
    { cwd: ROOT, env: { ...base, ...RUN_CHAIN_KEY, ...env }, stdio: 'pipe' },
  );
}

/** Waits for a child process to end; resolves its exit code and both outputs. */
export function finished(
  child: ChildProcessWithoutNullStreams,
  input = '',
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, err });
    });
    child.stdin.end(input);
  });
}

/** Runs the real `tokenwarden` binary in a child process; resolves its exit code and outputs. */
export function runBin(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return finished(spawnBin(args, env));
}

export { TEST_POLICY } from '@tokenwarden/testing';
