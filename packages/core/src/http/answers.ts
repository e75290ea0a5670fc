import { jwksResponse } from '../issue/token-endpoint-answers';
import type { TokenEndpointResponse } from '../issue/token-endpoint-answers';
import type { JwkSet } from '../issue/signing-keys';
import { TokenwardenError } from '../errors';
import type { Logger } from '../internal/logger';
import type { WardenMetrics } from '../metrics/types';

/** What a Tokenwarden handler answers: status, headers and a JSON (or text) body. */
export interface HandlerAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** A string is sent as it is; anything else as JSON. */
  readonly body: string | TokenEndpointResponse['body'];
}

/** The answer of a handler that failed: no stack trace, no library message, nothing to cache. */
export const SERVER_ERROR: HandlerAnswer = Object.freeze({
  status: 500,
  headers: Object.freeze({ 'content-type': 'application/json', 'cache-control': 'no-store' }),
  body: Object.freeze({ error: 'server_error' }),
});

const stderr: Pick<Logger, 'error'> = {
  error: (message, fields) => console.error(`[tokenwarden] ${message}`, fields ?? ''),
};

function logged(logger: Pick<Logger, 'error'>, what: string, error: unknown): HandlerAnswer {
  // The error's name only: a library message may carry what clients must not see, and logs too.
  logger.error(`${what} failed`, { error: error instanceof Error ? error.name : typeof error });
  return SERVER_ERROR;
}

/**
 * The Prometheus text of `metrics`, or a generic 500 when rendering fails (a collector that
 * throws): never rejects, so no framework error handler ever prints the failure to a client.
 */
export async function metricsAnswer(
  metrics: Pick<WardenMetrics, 'render' | 'contentType'>,
  logger: Pick<Logger, 'error'> = stderr,
): Promise<HandlerAnswer> {
  try {
    const text = await metrics.render();
    return { status: 200, headers: { 'content-type': metrics.contentType }, body: text };
  } catch (error) {
    return logged(logger, 'rendering the metrics', error);
  }
}

/** The JWKS of `source`, or a generic 500 when the source fails. Never throws. */
export function jwksAnswer(
  source: { jwks(): JwkSet },
  logger: Pick<Logger, 'error'> = stderr,
): HandlerAnswer {
  try {
    return jwksResponse(source);
  } catch (error) {
    return logged(logger, 'reading the signing keys for the JWKS', error);
  }
}

const NO_STORE_JSON = Object.freeze({
  'content-type': 'application/json',
  'cache-control': 'no-store',
});

/**
 * The answer of a health (readiness) probe: 200 `{ status: 'ok' }` once `warden.ready()`
 * resolves, else 503 `{ status: 'unavailable', reason }` with the stable code of what failed
 * (`store_unavailable`, `audit_unavailable`, `key_source_unavailable`). The cause itself (an
 * address, a Redis error) stays in the logs, never in the answer. Never rejects.
 */
export async function healthAnswer(warden: { ready(): Promise<void> }): Promise<HandlerAnswer> {
  try {
    await warden.ready();
    return { status: 200, headers: NO_STORE_JSON, body: { status: 'ok' } };
  } catch (error) {
    const reason = error instanceof TokenwardenError ? error.code : 'unavailable';
    return { status: 503, headers: NO_STORE_JSON, body: { status: 'unavailable', reason } };
  }
}
