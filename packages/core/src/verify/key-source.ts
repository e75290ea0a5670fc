import { ConfigError, TokenwardenError } from '../errors';

/**
 * The code of a key source that cannot be read (provider down, slow, or serving garbage) while
 * no usable keys are cached. Answered as 503 with `Retry-After`, like a store outage.
 */
export type KeySourceErrorCode = 'key_source_unavailable';

/**
 * A remote key source (discovery document or JWKS) could not be read. The message names the
 * source's host and a short reason (`timeout`, `HTTP 503`, `too large`, `not JSON`...), never a
 * token.
 */
export class KeySourceError extends TokenwardenError {
  /** Stable machine code. */
  declare readonly code: KeySourceErrorCode;
  /** The short reason, for logs and metric labels (a bounded set). Not an error code. */
  readonly reason: string;

  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super('key_source_unavailable', message, options);
    this.reason = reason;
  }
}

/** Options of {@link fetchJson}. */
export interface FetchJsonOptions {
  /** Whole-exchange deadline (connect, headers and body), in ms. */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes; a larger one is cut off and refused. */
  readonly maxBytes: number;
  /** What is fetched, for messages: `'JWKS'`, `'discovery document'`. */
  readonly what: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a key-source URL: `https:`, or `http:` only to a loopback host (a local test server or a
 * sidecar). No credentials in the URL. Throws {@link ConfigError} naming `option`.
 */
export function checkSourceUrl(value: unknown, option: string): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ConfigError(`${option} must be an absolute https:// URL`);
  }
  if (typeof value !== 'string')
    throw new ConfigError(`${option} must be an absolute https:// URL`);
  const loopback = LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      `${option} must use https:// (plain http:// is accepted only for localhost)`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(`${option} must not carry a user name or password`);
  }
  return url;
}

/**
 * GETs a JSON document with Node's global fetch: one deadline for the whole exchange
 * (`AbortSignal.timeout`), no redirects, a byte cap enforced while reading (a lying or absent
 * `Content-Length` does not help), strict UTF-8. Rejects with {@link KeySourceError}.
 */
export async function fetchJson(url: URL, options: FetchJsonOptions): Promise<unknown> {
  const where = `${options.what} at ${url.host}`;
  const failure = (reason: string, cause?: unknown) =>
    new KeySourceError(`could not read the ${where}: ${reason}`, reason, { cause });
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    throw failure(fetchReason(error), error);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw failure(`HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw failure('too large');
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    const reader = response.body?.getReader();
    if (reader === undefined) throw failure('empty body');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > options.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw failure('too large');
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof KeySourceError) throw error;
    throw failure(fetchReason(error), error);
  }
  try {
    return JSON.parse(utf8.decode(Buffer.concat(chunks)));
  } catch {
    throw failure('not JSON');
  }
}

function fetchReason(error: unknown): string {
  // fetch errors may come from another realm (undici), so no `instanceof Error` here.
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
    cause?: { code?: unknown; message?: unknown; name?: unknown };
  };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  if (e.cause?.name === 'TimeoutError' || e.cause?.name === 'AbortError') return 'timeout';
  const code = e.cause?.code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
  if (/redirect/i.test(String(e.message)) || /redirect/i.test(String(e.cause?.message))) {
    return 'redirect refused';
  }
  return 'network error';
}

/** One fetch of a key source, for metrics and logs. */
export interface KeySourceFetchEvent {
  /** What was fetched. */
  readonly source: 'jwks' | 'discovery';
  /** The host fetched from (no path, no query). */
  readonly host: string;
  readonly outcome: 'ok' | 'error';
  /** For errors, the short reason (`timeout`, `HTTP 503`, `not JSON`, `no usable keys`...). */
  readonly reason?: string;
  /** Usable keys now cached. */
  readonly keys: number;
  /** Keys in the document that were skipped (wrong use, algorithm, size, private parts...). */
  readonly ignored: number;
  /** Why the fetch happened. */
  readonly trigger: 'initial' | 'expired' | 'unknown_kid';
}
