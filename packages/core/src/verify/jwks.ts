import { createHash } from 'node:crypto';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import type { JwtAlgorithm, KeySelector, RingKey } from './key-ring';
import { checkSourceUrl, fetchJson, KeySourceError, type KeySourceFetchEvent } from './key-source';
import { checkRemoteAlgorithms, remoteKey } from './remote-key';

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

function positiveInt(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`${option} must be a positive integer`);
  }
  return value;
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
