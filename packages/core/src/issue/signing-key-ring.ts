import type { KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import type { WardenMetrics } from '../metrics/types';
import type { Logger } from '../internal/logger';
import {
  toRingKey,
  type KeySelector,
  type RingKey,
  type VerificationKey,
} from '../verify/key-ring';
import {
  activeKeyAt,
  assertSigningAlgorithm,
  generateSigningKey,
  jwksOf,
  planRetirement,
  planRotation,
  rotateSigningKeys,
  signingKeyObject,
  type JwkSet,
  type SigningAlgorithm,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
} from './signing-keys';
import type { AuditRecorder } from './lifecycle';
import type { ActiveSigningKey, SigningKeySource } from './signing-key-source';

/** Options of {@link SigningKeyRing}. */
export interface SigningKeyRingOptions {
  /** Where the key set lives: `MemorySigningKeyStore` for one node, the Redis key store for many. */
  readonly store: SigningKeyStore;
  /** Algorithm of new keys. Default: `'ES256'`. */
  readonly algorithm?: SigningAlgorithm;
  /** Longest lifetime of a token signed by the ring, in ms; old keys verify this long after a rotation. Required. */
  readonly maxTokenLifetimeMs: number;
  /** Clock skew allowed by verifiers, in ms, added to how long old keys verify. Default: 5000. */
  readonly clockToleranceMs?: number;
  /** Rotate when the active key is this old, in ms. Default: none (rotate by command only). */
  readonly rotationPeriodMs?: number;
  /**
   * How long a new key is published (verifiable) before it signs, in ms, so every node knows it
   * before the first token it signs arrives. At least `refreshIntervalMs`. Default: 60000.
   */
  readonly activationDelayMs?: number;
  /** How often the ring reloads the set, retires expired keys and checks the rotation schedule, in ms. Default: 10000. */
  readonly refreshIntervalMs?: number;
  /** Lifecycle audit events (`signing_key.created`, `.rotated`, `.retired`). Default: none. */
  readonly audit?: AuditRecorder;
  /**
   * `signing_key_rotations_total` (each time a new key takes over, seen at a maintenance pass)
   * and `signing_key_age_seconds` (age of the active key, every pass). Default: none.
   */
  readonly metrics?: Pick<WardenMetrics, 'signingKeyRotation' | 'signingKeyAge'>;
  /** Warnings when a background refresh fails. Default: stderr. */
  readonly logger?: Pick<Logger, 'warn'>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

interface LoadedKey {
  readonly stored: StoredSigningKey;
  readonly ring: RingKey;
  private?: KeyObject;
}

/**
 * A key ring that rotates: one active signing key, the next one published before it signs, and
 * older keys kept for verification until every token they signed has expired, then retired.
 * Shared between nodes through its store; a node picks up a rotation made elsewhere (by another
 * node or `tokenwarden keys rotate`) on the store's change notification or its next refresh,
 * without restart. Implements {@link KeySelector}, so verification reads it directly, and
 * {@link SigningKeySource}, so a `TokenIssuer` signs with it.
 *
 * @example
 * const ring = new SigningKeyRing({ store: new MemorySigningKeyStore(), algorithm: 'ES256',
 *   maxTokenLifetimeMs: 15 * 60_000, rotationPeriodMs: 30 * 86_400_000, audit: warden });
 * await ring.start();
 */
export class SigningKeyRing implements KeySelector, SigningKeySource {
  private versionValue = 0;
  private revision = -1;
  private byKid = new Map<string, LoadedKey>();
  private stored: readonly StoredSigningKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private refreshing: Promise<void> | undefined;
  private lastActiveKid: string | undefined;
  private readonly algorithm: SigningAlgorithm;
  private readonly verifyForMs: number;
  private readonly activationDelayMs: number;
  private readonly refreshIntervalMs: number;
  private readonly clock: Clock;

  constructor(private readonly options: SigningKeyRingOptions) {
    this.algorithm = assertSigningAlgorithm(
      options.algorithm ?? 'ES256',
      'signing key ring: algorithm',
    );
    const max = options.maxTokenLifetimeMs;
    if (!Number.isFinite(max) || max <= 0) {
      throw new ConfigError('signing key ring: maxTokenLifetimeMs must be a positive number of ms');
    }
    this.verifyForMs = max + (options.clockToleranceMs ?? 5_000);
    this.refreshIntervalMs = options.refreshIntervalMs ?? 10_000;
    this.activationDelayMs = options.activationDelayMs ?? 60_000;
    if (!(this.refreshIntervalMs > 0)) {
      throw new ConfigError('signing key ring: refreshIntervalMs must be a positive number of ms');
    }
    if (!(this.activationDelayMs >= this.refreshIntervalMs)) {
      throw new ConfigError(
        'signing key ring: activationDelayMs must be at least refreshIntervalMs, so every node loads a new key before it signs',
      );
    }
    if (
      options.rotationPeriodMs !== undefined &&
      !(options.rotationPeriodMs > this.activationDelayMs)
    ) {
      throw new ConfigError(
        'signing key ring: rotationPeriodMs must be longer than activationDelayMs',
      );
    }
    this.clock = options.clock ?? systemClock;
  }

  /** Changes whenever the set of keys changes (a verified-token cache clears on change). */
  get version(): number {
    return this.versionValue;
  }

  /**
   * Loads the shared set, creates the first key if there is none, subscribes to changes and
   * starts the refresh timer (unref'd). Call once before use.
   */
  async start(): Promise<void> {
    await this.maintain();
    if (this.options.store.watch) {
      this.unwatch = await this.options.store.watch(() => {
        this.refresh().catch((error: unknown) => this.warn(error));
      });
    }
    this.timer = setInterval(() => {
      this.maintain().catch((error: unknown) => this.warn(error));
    }, this.refreshIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and the change subscription. The store is not closed. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.unwatch?.();
    this.unwatch = undefined;
  }

  /** The verification key a token's `kid` selects: any key not yet retired. */
  select(kid: string | undefined): RingKey | undefined {
    if (kid === undefined) return undefined;
    const loaded = this.byKid.get(kid);
    if (loaded === undefined) return undefined;
    const until = loaded.stored.verifyUntil;
    // Refuse a retired key at once, even before the next refresh removes it.
    if (until !== undefined && until <= this.clock.now()) return undefined;
    return loaded.ring;
  }

  /** The key to sign with now. */
  signingKey(): ActiveSigningKey {
    const active = activeKeyAt(this.stored, this.clock.now());
    const loaded = active && this.byKid.get(active.kid);
    if (!loaded) {
      throw new ConfigError('signing key ring has no active key: call start() first');
    }
    loaded.private ??= signingKeyObject(loaded.stored);
    return { kid: loaded.stored.kid, alg: loaded.stored.alg, key: loaded.private };
  }

  /** The public keys for a JWKS endpoint: every key not yet retired, the scheduled one included. */
  jwks(): JwkSet {
    return jwksOf(this.stored, this.clock.now());
  }

  /** Metadata of the keys held now (no secret material). */
  keys(): readonly Omit<StoredSigningKey, 'secret'>[] {
    return this.stored.map(({ secret: _secret, ...info }) => info);
  }

  /** The current keys as plain verification keys, for a warden configured with `jwt.keys`. */
  verificationKeys(): VerificationKey[] {
    return [...this.byKid.values()].map((k) => ({
      kid: k.ring.kid,
      alg: k.ring.alg,
      key: k.ring.keyObject,
    }));
  }

  /**
   * Rotates now: a new key signs after `activationDelayMs` (or at once with `immediate`, for a
   * compromised key; nodes that have not loaded it yet refuse its tokens until they do). The old
   * key verifies until its last token expires. Retries on a concurrent write.
   */
  async rotate(options: { immediate?: boolean; actor?: string } = {}): Promise<StoredSigningKey> {
    const plan = await rotateSigningKeys(this.options.store, {
      ...this.settings(),
      now: this.clock.now(),
      ...(options.immediate !== undefined ? { immediate: options.immediate } : {}),
    });
    const created = plan.created;
    this.apply(plan.set);
    this.record('signing_key.created', created, options.actor, {
      activeFrom: iso(created.activeFrom),
    });
    this.record('signing_key.rotated', created, options.actor, {
      activeFrom: iso(created.activeFrom),
      ...(plan.previous
        ? {
            previousKid: plan.previous.kid,
            previousVerifyUntil: iso(created.activeFrom + this.verifyForMs),
          }
        : {}),
    });
    return created;
  }

  /** This ring's settings, stored with the set for the CLI. */
  private settings(): SigningKeySettings {
    return {
      algorithm: this.algorithm,
      activationDelayMs: this.activationDelayMs,
      verifyForMs: this.verifyForMs,
    };
  }

  /**
   * One maintenance pass: reload the set, create the first key when there is none, retire keys
   * whose tokens have all expired, rotate when the active key reached the rotation period.
   * Runs on the timer; exposed for tests and the CLI.
   */
  async maintain(): Promise<void> {
    await this.refresh();
    const now = this.clock.now();
    const active = activeKeyAt(this.stored, now);
    if (active === undefined) {
      const first = await this.createFirst(now);
      if (first) return;
    }
    await this.retire();
    const current = activeKeyAt(this.stored, this.clock.now());
    if (current) {
      // Counted when this node sees a new key take over, whoever scheduled it (this ring, another
      // node, `tokenwarden keys rotate`): every node counts each rotation once.
      if (this.lastActiveKid !== undefined && current.kid !== this.lastActiveKid) {
        this.options.metrics?.signingKeyRotation();
      }
      this.lastActiveKid = current.kid;
      this.options.metrics?.signingKeyAge((this.clock.now() - current.activeFrom) / 1000);
    }
    const period = this.options.rotationPeriodMs;
    const scheduled = this.stored.some((k) => k.activeFrom > this.clock.now());
    if (
      period !== undefined &&
      current &&
      !scheduled &&
      this.clock.now() - current.activeFrom >= period
    ) {
      await this.rotate({ actor: 'schedule' });
    }
  }

  /** Reloads the set from the store if it changed. Concurrent calls share one load. */
  async refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        this.apply(await this.options.store.load());
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async createFirst(now: number): Promise<boolean> {
    const set = await this.options.store.load();
    if (activeKeyAt(set.keys, now)) {
      this.apply(set);
      return false;
    }
    const created = generateSigningKey(this.algorithm, now);
    const plan = planRotation(
      { ...set, settings: this.settings() },
      created,
      now,
      this.verifyForMs,
    );
    if (!(await this.options.store.save(plan.set))) {
      await this.refresh();
      return false;
    }
    this.apply(plan.set);
    this.record('signing_key.created', created, 'tokenwarden', {
      activeFrom: iso(created.activeFrom),
    });
    return true;
  }

  private async retire(): Promise<void> {
    const set = await this.options.store.load();
    const plan = planRetirement(set, this.clock.now());
    if (plan === undefined) {
      this.apply(set);
      return;
    }
    if (!(await this.options.store.save(plan.set))) return;
    this.apply(plan.set);
    for (const key of plan.retired) {
      this.record('signing_key.retired', key, 'schedule', {
        verifyUntil: iso(key.verifyUntil ?? 0),
      });
    }
  }

  /** Installs a loaded set; builds verification keys only for kids not seen before. */
  private apply(set: SigningKeySet): void {
    if (set.revision === this.revision) return;
    const next = new Map<string, LoadedKey>();
    for (const stored of set.keys) {
      const known = this.byKid.get(stored.kid);
      if (known && known.stored.secret === stored.secret) {
        next.set(stored.kid, { ...known, stored });
        continue;
      }
      const key: VerificationKey = {
        kid: stored.kid,
        alg: stored.alg,
        key: signingKeyObject(stored),
      };
      next.set(stored.kid, { stored, ring: toRingKey(key, [stored.alg]) });
    }
    this.byKid = next;
    this.stored = set.keys;
    this.revision = set.revision;
    this.versionValue++;
  }

  private record(
    type: 'signing_key.created' | 'signing_key.rotated' | 'signing_key.retired',
    key: StoredSigningKey,
    actor: string | undefined,
    detail: Record<string, string | number | boolean>,
  ): void {
    this.options.audit?.recordEvent({
      type,
      outcome: 'success',
      ...(actor ? { actor } : {}),
      detail: { kid: key.kid, alg: key.alg, ...detail },
    });
  }

  private warn(error: unknown): void {
    (this.options.logger ?? console).warn(
      'signing key ring refresh failed; keeping the keys it has',
      {
        error: error instanceof Error ? error.message : String(error),
      },
    );
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
