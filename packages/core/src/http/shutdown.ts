import type { Logger } from '../internal/logger';
import type { CloseOptions } from '../pipeline/compose';

/** What {@link gracefulShutdown} needs of a server: a Node `http.Server` (or https, http2). */
export interface ShutdownServer {
  close(callback?: (error?: Error) => void): unknown;
  /** Node ≥ 18.2: closes keep-alive connections that carry no request. */
  closeIdleConnections?(): void;
  /** Node ≥ 18.2: closes every connection, in flight or not. */
  closeAllConnections?(): void;
}

/** Options of {@link gracefulShutdown}. */
export interface GracefulShutdownOptions {
  /** Signals that start the shutdown. `[]`: none, call the returned function. Default: `['SIGTERM', 'SIGINT']`. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * How long requests in flight may take to finish, in ms; their connections are then cut and
   * the shutdown goes on. Default: 10,000.
   */
  readonly timeoutMs?: number;
  /** Close the warden's store too, also one passed in (`warden.close({ store: true })`). Default: `true`. */
  readonly store?: boolean;
  /**
   * Ends the process when done (exit code 0, or 1 when a step failed or timed out). Default:
   * `true` when started by a signal (its default action, ending the process, is replaced by the
   * shutdown), `false` when the returned function is called.
   */
  readonly exit?: boolean;
  /** Where a failed step is reported. Default: stderr. */
  readonly logger?: Pick<Logger, 'error'>;
}

/** Checked between two attempts to close keep-alive connections that became idle, in ms. */
const IDLE_SWEEP_MS = 50;

/**
 * Stops a server and its warden without losing an audit event: on the first of `signals` (or
 * when the returned function is called) the server stops accepting connections, the requests in
 * flight finish (their access events are recorded as their responses close), then the warden is
 * closed: its audit trail flushed to the sinks, the sinks closed, and what it opened (and, with
 * `store`, its store) closed. Calling it twice, or a second signal, waits for the same shutdown.
 *
 * @example
 * const server = app.listen(3000);
 * gracefulShutdown(server, tw.warden);
 */
export function gracefulShutdown(
  server: ShutdownServer,
  warden: { close(options?: CloseOptions): Promise<void> },
  options: GracefulShutdownOptions = {},
): (exit?: boolean) => Promise<void> {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const logger = options.logger ?? {
    error: (message: string) => console.error(`[tokenwarden] ${message}`),
  };
  let running: Promise<void> | undefined;
  const shutdown = (exit = options.exit ?? false): Promise<void> => {
    running ??= (async () => {
      for (const signal of signals) process.removeListener(signal, onSignal);
      const failed = !(await stopServer(server, timeoutMs, logger));
      let closed = true;
      try {
        await warden.close({ store: options.store ?? true });
      } catch (error) {
        closed = false;
        logger.error(
          `closing the warden failed (${error instanceof Error ? error.name : 'error'})`,
        );
      }
      if (exit) process.exit(failed || !closed ? 1 : 0);
    })();
    return running;
  };
  const onSignal = () => void shutdown(options.exit ?? true);
  for (const signal of signals) process.once(signal, onSignal);
  return shutdown;
}

/** Stops accepting, waits for connections to end (at most `timeoutMs`); false when cut short. */
function stopServer(
  server: ShutdownServer,
  timeoutMs: number,
  logger: Pick<Logger, 'error'>,
): Promise<boolean> {
  return new Promise((resolve) => {
    // A keep-alive connection becomes idle when its response ends: close it then.
    const sweep = setInterval(() => server.closeIdleConnections?.(), IDLE_SWEEP_MS);
    const done = (ok: boolean) => {
      clearInterval(sweep);
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      logger.error(`requests still in flight after ${timeoutMs} ms: their connections are cut`);
      server.closeAllConnections?.();
      done(false);
    }, timeoutMs);
    server.close((error) => {
      // ERR_SERVER_NOT_RUNNING: already closed, nothing is in flight.
      done(error === undefined || (error as { code?: unknown }).code === 'ERR_SERVER_NOT_RUNNING');
    });
    server.closeIdleConnections?.();
  });
}
