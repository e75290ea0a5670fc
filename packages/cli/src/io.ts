/** Output streams and environment of one CLI run; tests pass their own. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Where secrets are read from (`revoke --secret -`). Default: `process.stdin`. */
  readonly stdin?: NodeJS.ReadableStream;
}
