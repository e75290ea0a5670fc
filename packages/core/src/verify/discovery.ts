import { systemClock, type Clock } from '../internal/clock';
import { RemoteJwks, type RemoteJwksOptions } from './jwks';
import type { KeySelector, RingKey } from './key-ring';
import { checkSourceUrl, fetchJson, KeySourceError } from './key-source';

/** The discovery metadata Tokenwarden reads (OpenID Connect Discovery 1.0 / RFC 8414). */
export interface ProviderMetadata {
  /** Equal to the configured issuer, byte for byte (checked). */
  readonly issuer: string;
  /** Where the provider publishes its keys. */
  readonly jwks_uri: string;
  /** DPoP proof algorithms the provider supports (RFC 9449 §5.1), when published. */
  readonly dpop_signing_alg_values_supported?: readonly string[];
}

/**
 * Keys of an issuer found through OpenID discovery: the discovery document is read once (with the
 * same deadline, byte cap and cooldown as the JWKS), then a {@link RemoteJwks} takes over.
 */
export class DiscoveredKeys implements KeySelector {
  /** The discovery URL. */
  readonly url: URL;
  private jwks: RemoteJwks | undefined;
  private metadataValue: ProviderMetadata | undefined;
  private attemptedAt: number | undefined;
  private inflight: Promise<void> | undefined;
  private lastError: KeySourceError | undefined;

  constructor(
    private readonly issuer: string,
    discoveryUrl: string,
    private readonly jwksOptions: Omit<RemoteJwksOptions, 'url'>,
    option: string,
  ) {
    this.url = checkSourceUrl(discoveryUrl, option);
  }

  /** The provider metadata, once discovered. */
  get metadata(): ProviderMetadata | undefined {
    return this.metadataValue;
  }

  /** 0 until discovered, then the JWKS version. */
  get version(): number {
    return this.jwks?.version ?? 0;
  }

  /** The cached key a token's header selects. */
  select(kid: string | undefined): RingKey | undefined {
    return this.jwks?.select(kid);
  }

  /** Discovers (once; at most once per cooldown while failing), then prepares the JWKS. */
  async prepare(kid: string | undefined): Promise<void> {
    await (await this.discovered()).prepare(kid);
  }

  /** Discovers and loads the keys now. Rejects with {@link KeySourceError}. */
  async load(): Promise<void> {
    await (await this.discovered()).load();
  }

  private async discovered(): Promise<RemoteJwks> {
    if (this.jwks !== undefined) return this.jwks;
    const clock = this.jwksOptions.clock ?? systemClock;
    const cooldownMs = this.jwksOptions.cooldownMs ?? 30_000;
    const cooling = this.attemptedAt !== undefined && clock.now() - this.attemptedAt < cooldownMs;
    if (this.inflight !== undefined || !cooling) {
      this.inflight ??= this.discover(clock).finally(() => {
        this.inflight = undefined;
      });
      await this.inflight;
    }
    if (this.jwks !== undefined) return this.jwks;
    throw (
      this.lastError ??
      new KeySourceError(`${this.url.host} has not been discovered yet`, 'not discovered')
    );
  }

  private async discover(clock: Clock): Promise<void> {
    this.attemptedAt = clock.now();
    const report = (outcome: 'ok' | 'error', reason?: string) => {
      try {
        this.jwksOptions.onFetch?.({
          source: 'discovery',
          host: this.url.host,
          outcome,
          ...(reason === undefined ? {} : { reason }),
          keys: 0,
          ignored: 0,
          trigger: 'initial',
        });
      } catch {
        // A failing observer must not break verification.
      }
    };
    try {
      const document = await fetchJson(this.url, {
        timeoutMs: this.jwksOptions.timeoutMs ?? 5_000,
        maxBytes: this.jwksOptions.maxBytes ?? 262_144,
        what: 'discovery document',
      });
      const metadata = this.check(document);
      let jwks: RemoteJwks;
      try {
        jwks = new RemoteJwks({ ...this.jwksOptions, url: metadata.jwks_uri });
      } catch {
        throw new KeySourceError(
          `the discovery document at ${this.url.host} names an unusable jwks_uri`,
          'bad jwks_uri',
        );
      }
      this.metadataValue = metadata;
      this.jwks = jwks;
      this.lastError = undefined;
      report('ok');
    } catch (error) {
      this.lastError =
        error instanceof KeySourceError
          ? error
          : new KeySourceError(`could not discover ${this.url.host}`, 'error', { cause: error });
      report('error', this.lastError.reason);
    }
  }

  private check(document: unknown): ProviderMetadata {
    const fail = (reason: string) =>
      new KeySourceError(`the discovery document at ${this.url.host}: ${reason}`, reason);
    if (document === null || typeof document !== 'object' || Array.isArray(document)) {
      throw fail('not a JSON object');
    }
    const doc = document as Record<string, unknown>;
    // OpenID Connect Discovery §4.3: the issuer must be exactly the one configured (mix-up defence).
    if (doc.issuer !== this.issuer) throw fail('issuer mismatch');
    if (typeof doc.jwks_uri !== 'string' || doc.jwks_uri.length > 2048) {
      throw fail('no jwks_uri');
    }
    const dpop = doc.dpop_signing_alg_values_supported;
    return {
      issuer: doc.issuer,
      jwks_uri: doc.jwks_uri,
      ...(Array.isArray(dpop) && dpop.every((a) => typeof a === 'string')
        ? { dpop_signing_alg_values_supported: dpop as string[] }
        : {}),
    };
  }
}
