import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';
import { ConfigError, TokenwardenError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { hasControlChar } from '../internal/text';
import {
  MAX_KID_LENGTH,
  toRingKey,
  type JwtAlgorithm,
  type KeySelector,
  type RingKey,
} from './key-ring';

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

/** Options of {@link RemoteJwks}. */
export interface RemoteJwksOptions {
  /** The JWKS URL (`jwks_uri`): `https://`, or `http://` to localhost only. */
  readonly url: string;
  /**
   * Algorithms the keys may verify; asymmetric only (a shared secret never comes from a URL).
   * A JWK naming another `alg` is skipped; a JWK without `alg` gets the one algorithm its key
   * type allows here (for RSA without `alg`, list exactly one RS* or PS* algorithm).
   */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Deadline of one fetch, headers and body, in ms. Default: 5000. */
  readonly timeoutMs?: number;
  /** Largest JWKS accepted, in bytes. Default: 262144 (256 KiB). */
  readonly maxBytes?: number;
  /** Keys are re-fetched when older than this, in ms. Default: 600000 (10 minutes). */
  readonly cacheMaxAgeMs?: number;
  /**
   * Least time between two fetches, in ms, whatever triggers them (an unknown `kid`, a failure):
   * a flood of tokens with random `kid`s costs the provider one request per cooldown.
   * Default: 30000.
   */
  readonly cooldownMs?: number;
  /**
   * How long cached keys keep verifying while the provider cannot be reached, in ms. After that
   * they are dropped and verification answers `key_source_unavailable`. Default: 86400000 (1 day).
   */
  readonly maxStaleMs?: number;
  /** Most keys kept from one document; the rest are ignored. Default: 50. */
  readonly maxKeys?: number;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
  /** Called after every fetch, for metrics and logs. Must not throw. */
  readonly onFetch?: (event: KeySourceFetchEvent) => void;
}

const ASYMMETRIC = /^((RS|PS|ES)(256|384|512)|EdDSA)$/;
const EC_ALG: Record<string, JwtAlgorithm> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

function positiveInt(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`${option} must be a positive integer`);
  }
  return value;
}

/** Validates a remote key source's algorithm list; throws {@link ConfigError}. */
export function checkRemoteAlgorithms(
  algorithms: readonly JwtAlgorithm[],
  option: string,
): JwtAlgorithm[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new ConfigError(
      `${option} is required: list the algorithms the provider signs with, e.g. ['RS256']`,
    );
  }
  for (const alg of algorithms) {
    if (typeof alg !== 'string' || !ASYMMETRIC.test(alg)) {
      throw new ConfigError(
        `${option}: '${String(alg)}' cannot be used with keys from a URL; use RS*, PS*, ES* or EdDSA algorithms`,
      );
    }
  }
  return [...algorithms];
}

/**
 * Verification keys read from a provider's JWKS URL, cached. A {@link KeySelector}: `select` is
 * synchronous, from the cache; call {@link prepare} with the token's `kid` before verifying, so an
 * empty, expired or kid-less cache is refreshed first. Fetches are single-flight and at least
 * `cooldownMs` apart, whatever triggers them. `version` increments whenever the key set changes.
 * No timers: refreshes happen on demand.
 *
 * @example
 * const jwks = new RemoteJwks({ url: 'https://auth.example.com/.well-known/jwks.json', algorithms: ['RS256'] });
 * await jwks.prepare(kid);            // before verifyJwt(token, { ...policy, ring: jwks }, now)
 */
export class RemoteJwks implements KeySelector {
  /** The JWKS URL. */
  readonly url: URL;
  private readonly algorithms: readonly JwtAlgorithm[];
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly cacheMaxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly maxStaleMs: number;
  private readonly maxKeys: number;
  private readonly clock: Clock;
  private readonly onFetch: ((event: KeySourceFetchEvent) => void) | undefined;
  private byKid = new Map<string, RingKey>();
  private single: RingKey | undefined;
  private fingerprint = '';
  private loadedAt: number | undefined;
  private attemptedAt: number | undefined;
  private inflight: Promise<void> | undefined;
  private lastError: KeySourceError | undefined;
  private currentVersion = 0;

  constructor(options: RemoteJwksOptions, option = 'jwks') {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`${option} needs an options object with 'url' and 'algorithms'`);
    }
    this.url = checkSourceUrl(options.url, `${option}.url`);
    this.algorithms = checkRemoteAlgorithms(options.algorithms, `${option}.algorithms`);
    this.timeoutMs = positiveInt(options.timeoutMs ?? 5_000, `${option}.timeoutMs`);
    this.maxBytes = positiveInt(options.maxBytes ?? 262_144, `${option}.maxBytes`);
    this.cacheMaxAgeMs = positiveInt(options.cacheMaxAgeMs ?? 600_000, `${option}.cacheMaxAgeMs`);
    this.cooldownMs = positiveInt(options.cooldownMs ?? 30_000, `${option}.cooldownMs`);
    this.maxStaleMs = positiveInt(options.maxStaleMs ?? 86_400_000, `${option}.maxStaleMs`);
    this.maxKeys = positiveInt(options.maxKeys ?? 50, `${option}.maxKeys`);
    if (this.cooldownMs > this.cacheMaxAgeMs) {
      throw new ConfigError(`${option}.cooldownMs must not exceed ${option}.cacheMaxAgeMs`);
    }
    if (this.maxStaleMs < this.cacheMaxAgeMs) {
      throw new ConfigError(`${option}.maxStaleMs must be at least ${option}.cacheMaxAgeMs`);
    }
    this.clock = options.clock ?? systemClock;
    this.onFetch = options.onFetch;
  }

  /** Changes whenever the cached key set changes (loaded, rotated, dropped). */
  get version(): number {
    return this.currentVersion;
  }

  /** Number of usable keys cached. */
  get size(): number {
    return this.byKid.size + (this.single === undefined ? 0 : 1);
  }

  /** The last fetch failure, if the last fetch failed. */
  get error(): KeySourceError | undefined {
    return this.lastError;
  }

  /** The cached key a token's header selects (a token without `kid` only with a one-key set). */
  select(kid: string | undefined): RingKey | undefined {
    if (kid === undefined) {
      if (this.single !== undefined) return this.byKid.size === 0 ? this.single : undefined;
      return this.byKid.size === 1 ? this.byKid.values().next().value : undefined;
    }
    return this.byKid.get(kid);
  }

  /**
   * Makes sure the cache can answer for `kid`: loads it when empty, re-fetches once per cooldown
   * when `kid` is unknown, and refreshes it when older than `cacheMaxAgeMs` (in the background
   * when the cached set still holds `kid`, so the request does not wait). Resolves once the cache is
   * as good as it can be now (an unknown kid then simply selects no key). Rejects with
   * {@link KeySourceError} only when no usable keys are cached at all.
   */
  async prepare(kid: string | undefined): Promise<void> {
    const now = this.clock.now();
    const coolingDown = this.attemptedAt !== undefined && now - this.attemptedAt < this.cooldownMs;
    let trigger: KeySourceFetchEvent['trigger'] | undefined;
    if (this.loadedAt === undefined) trigger = 'initial';
    else if (now - this.loadedAt >= this.cacheMaxAgeMs) trigger = 'expired';
    else if (this.select(kid) === undefined) trigger = 'unknown_kid';
    if (trigger !== undefined && (this.inflight !== undefined || !coolingDown)) {
      const fetching = this.fetchOnce(trigger);
      // An expired set that still has the token's key answers now and refreshes in the
      // background (the fetch never rejects); anything else waits for the fetch.
      const stillGood =
        trigger === 'expired' &&
        this.select(kid) !== undefined &&
        now - (this.loadedAt ?? 0) <= this.maxStaleMs;
      if (!stillGood) await fetching;
    }
    if (this.loadedAt !== undefined && this.clock.now() - this.loadedAt > this.maxStaleMs) {
      this.replace(new Map(), undefined, '');
      this.loadedAt = undefined;
    }
    if (this.size === 0) {
      throw (
        this.lastError ??
        new KeySourceError(`no usable keys from the JWKS at ${this.url.host}`, 'no usable keys')
      );
    }
  }

  /**
   * Fetches now, unless a fetch is in flight (then waits for it) or the last one was less than
   * `cooldownMs` ago. For warm-up at start-up. Rejects with {@link KeySourceError} when the
   * fetch fails.
   */
  async load(): Promise<void> {
    const now = this.clock.now();
    if (
      this.inflight === undefined &&
      this.attemptedAt !== undefined &&
      now - this.attemptedAt < this.cooldownMs
    ) {
      if (this.lastError !== undefined) throw this.lastError;
      return;
    }
    await this.fetchOnce(this.loadedAt === undefined ? 'initial' : 'expired');
    if (this.lastError !== undefined) throw this.lastError;
  }

  private fetchOnce(trigger: KeySourceFetchEvent['trigger']): Promise<void> {
    this.inflight ??= this.fetchKeys(trigger).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(trigger: KeySourceFetchEvent['trigger']): Promise<void> {
    this.attemptedAt = this.clock.now();
    let ignored = 0;
    try {
      const document = await fetchJson(this.url, {
        timeoutMs: this.timeoutMs,
        maxBytes: this.maxBytes,
        what: 'JWKS',
      });
      const parsed = this.parse(document);
      ignored = parsed.ignored;
      this.replace(parsed.byKid, parsed.single, parsed.fingerprint);
      this.loadedAt = this.clock.now();
      this.lastError = undefined;
      this.report({ outcome: 'ok', ignored, trigger });
    } catch (error) {
      this.lastError =
        error instanceof KeySourceError
          ? error
          : new KeySourceError(`could not read the JWKS at ${this.url.host}`, 'error', {
              cause: error,
            });
      this.report({ outcome: 'error', reason: this.lastError.reason, ignored, trigger });
    }
  }

  private report(event: Omit<KeySourceFetchEvent, 'source' | 'host' | 'keys'>): void {
    try {
      this.onFetch?.({ source: 'jwks', host: this.url.host, keys: this.size, ...event });
    } catch {
      // A failing observer must not break verification.
    }
  }

  private replace(byKid: Map<string, RingKey>, single: RingKey | undefined, fingerprint: string) {
    if (fingerprint !== this.fingerprint) this.currentVersion += 1;
    this.byKid = byKid;
    this.single = single;
    this.fingerprint = fingerprint;
  }

  private parse(document: unknown): {
    byKid: Map<string, RingKey>;
    single: RingKey | undefined;
    fingerprint: string;
    ignored: number;
  } {
    const fail = (reason: string) =>
      new KeySourceError(`the JWKS at ${this.url.host} is unusable: ${reason}`, reason);
    if (document === null || typeof document !== 'object' || Array.isArray(document)) {
      throw fail('not a JWK set');
    }
    const keys = (document as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) throw fail('not a JWK set');
    const byKid = new Map<string, RingKey>();
    const keyless: RingKey[] = [];
    let ignored = 0;
    for (const jwk of keys) {
      const key =
        byKid.size + keyless.length < this.maxKeys ? remoteKey(jwk, this.algorithms) : undefined;
      if (key === undefined || byKid.has(key.kid)) {
        ignored += 1;
        continue;
      }
      if (key.kid === '') keyless.push(key);
      else byKid.set(key.kid, key);
    }
    // A key without kid can only be chosen when it is the only key.
    let single: RingKey | undefined;
    if (keyless.length === 1 && byKid.size === 0) single = keyless[0];
    else ignored += keyless.length;
    if (byKid.size === 0 && single === undefined) throw fail('no usable keys');
    const parts = [...byKid.values(), ...(single ? [single] : [])]
      .map((k) => `${k.kid}\u0000${k.alg}\u0000${thumb(k)}`)
      .sort();
    return { byKid, single, fingerprint: parts.join('\u0001'), ignored };
  }
}

function thumb(key: RingKey): string {
  return createHash('sha256')
    .update(key.keyObject.export({ format: 'der', type: 'spki' }))
    .digest('base64url');
}

/** One JWK as a verification key, or undefined when it is not usable here. */
function remoteKey(value: unknown, allowed: readonly JwtAlgorithm[]): RingKey | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const jwk = value as Record<string, unknown>;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify')) return undefined;
  }
  // A set that publishes private parts is broken or hostile: none of its keys is trusted as is.
  if (PRIVATE_MEMBERS.some((member) => jwk[member] !== undefined)) return undefined;
  const kid = jwk.kid;
  if (
    kid !== undefined &&
    (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH || hasControlChar(kid))
  ) {
    return undefined;
  }
  let alg: JwtAlgorithm | undefined;
  let material: JsonWebKey;
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return undefined;
    material = { kty: 'RSA', n: jwk.n, e: jwk.e };
    const rsa = allowed.filter((a) => a.startsWith('RS') || a.startsWith('PS'));
    if (jwk.alg !== undefined) alg = rsa.find((a) => a === jwk.alg);
    else if (rsa.length === 1) alg = rsa[0];
  } else if (jwk.kty === 'EC') {
    if (typeof jwk.crv !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      return undefined;
    }
    material = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    const byCurve = EC_ALG[jwk.crv];
    if (byCurve !== undefined && (jwk.alg === undefined || jwk.alg === byCurve)) {
      alg = allowed.includes(byCurve) ? byCurve : undefined;
    }
  } else if (jwk.kty === 'OKP') {
    // RFC 8037: Ed25519 and Ed448 keys for EdDSA; X25519/X448 are not signing keys.
    if ((jwk.crv !== 'Ed25519' && jwk.crv !== 'Ed448') || typeof jwk.x !== 'string') {
      return undefined;
    }
    material = { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    if ((jwk.alg === undefined || jwk.alg === 'EdDSA') && allowed.includes('EdDSA')) alg = 'EdDSA';
  } else {
    return undefined;
  }
  if (alg === undefined) return undefined;
  try {
    const keyObject = createPublicKey({ key: material, format: 'jwk' });
    const ring = toRingKey(
      { kid: typeof kid === 'string' ? kid : 'jwks', alg, key: keyObject },
      allowed,
    );
    return { ...ring, kid: typeof kid === 'string' ? kid : '' };
  } catch {
    return undefined;
  }
}
