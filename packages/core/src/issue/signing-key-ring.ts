import { ConfigError } from '../errors';
import type { Clock } from '../internal/clock';
import type { KeySelector, RingKey, VerificationKey } from '../verify/key-ring';
import { SigningKeyError } from './signing-key-integrity';
import {
  signingKeyRingTiming,
  type SigningKeyRingOptions,
  type SigningKeyRingTiming,
} from './signing-key-ring-options';
import { iso, SigningKeyRingReports } from './signing-key-ring-reports';
import { loadedKeysOf, sameSet, type LoadedKey } from './signing-key-set-check';
import type { ActiveSigningKey, SigningKeySource } from './signing-key-source';
import {
  activeKeyAt,
  generateSigningKey,
  jwksOf,
  planRetirement,
  planRotation,
  rotateSigningKeys,
  type JwkSet,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
} from './signing-keys';

export type { SigningKeyRingOptions } from './signing-key-ring-options';

/**
 * A key ring that rotates: one active signing key, the next one published before it signs, and
 * older keys kept for verification until every token they signed has expired, then retired.
 * Shared between nodes through its store; a node picks up a rotation made elsewhere (by another
 * node or `tokenwarden keys rotate`) on the store's change notification or its next refresh,
 * without restart. Implements {@link KeySelector}, so verification reads it directly, and
 * {@link SigningKeySource}, so a `TokenIssuer` signs with it.
 *
 * A loaded set is checked before it is used: every published public key must be the public half
 * of its private key, a key keeps its algorithm and times, and the revision never goes below one
 * this ring has loaded (an older set written back would make a key rotated away after a
 * compromise sign again). A refused set throws a {@link SigningKeyError}, is recorded as a
 * `signing_key.refused` audit event and logged as an error, and the ring keeps the keys it has.
 *
 * @example
 * const ring = new SigningKeyRing({ store: new MemorySigningKeyStore(), algorithm: 'ES256',
 *   maxTokenLifetimeMs: 15 * 60_000, rotationPeriodMs: 30 * 86_400_000, audit: warden });
 * await ring.start();
 */
export class SigningKeyRing implements KeySelector, SigningKeySource {
  private versionValue = 0;
  private revision = -1;
  private current: SigningKeySet | undefined;
  private byKid = new Map<string, LoadedKey>();
  private stored: readonly StoredSigningKey[] = [];
  /** The store as rotations see it: every load checked as the ring's own. */
  private readonly checkedStore: SigningKeyStore;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private refreshing: Promise<void> | undefined;
  private lastActiveKid: string | undefined;
  private readonly timing: SigningKeyRingTiming;
  private readonly clock: Clock;
  private readonly reports: SigningKeyRingReports;

  constructor(private readonly options: SigningKeyRingOptions) {
    this.timing = signingKeyRingTiming(options);
    this.clock = this.timing.clock;
    this.reports = new SigningKeyRingReports(options);
    this.checkedStore = {
      load: () => this.load(),
      save: (next) => options.store.save(next),
    };
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
        this.refresh().catch((error: unknown) => this.reports.refreshFailed(error));
      });
    }
    this.timer = setInterval(() => {
      this.maintain().catch((error: unknown) => this.reports.refreshFailed(error));
    }, this.timing.refreshIntervalMs);
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
    const plan = await rotateSigningKeys(this.checkedStore, {
      ...this.settings(),
      now: this.clock.now(),
      ...(options.immediate !== undefined ? { immediate: options.immediate } : {}),
    });
    const created = plan.created;
    this.apply(plan.set);
    this.reports.record('signing_key.created', created, options.actor, {
      activeFrom: iso(created.activeFrom),
    });
    this.reports.record('signing_key.rotated', created, options.actor, {
      activeFrom: iso(created.activeFrom),
      ...(plan.previous
        ? {
            previousKid: plan.previous.kid,
            previousVerifyUntil: iso(created.activeFrom + this.timing.verifyForMs),
          }
        : {}),
    });
    return created;
  }

  /** This ring's settings, stored with the set for the CLI. */
  private settings(): SigningKeySettings {
    return {
      algorithm: this.timing.algorithm,
      activationDelayMs: this.timing.activationDelayMs,
      verifyForMs: this.timing.verifyForMs,
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
        this.apply(await this.load());
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async createFirst(now: number): Promise<boolean> {
    const set = await this.load();
    if (activeKeyAt(set.keys, now)) {
      this.apply(set);
      return false;
    }
    const created = generateSigningKey(this.timing.algorithm, now);
    const plan = planRotation(
      { ...set, settings: this.settings() },
      created,
      now,
      this.timing.verifyForMs,
    );
    if (!(await this.options.store.save(plan.set))) {
      await this.refresh();
      return false;
    }
    this.apply(plan.set);
    this.reports.record('signing_key.created', created, 'tokenwarden', {
      activeFrom: iso(created.activeFrom),
    });
    return true;
  }

  private async retire(): Promise<void> {
    const set = await this.load();
    const plan = planRetirement(set, this.clock.now());
    if (plan === undefined) {
      this.apply(set);
      return;
    }
    if (!(await this.options.store.save(plan.set))) return;
    this.apply(plan.set);
    for (const key of plan.retired) {
      this.reports.record('signing_key.retired', key, 'schedule', {
        verifyUntil: iso(key.verifyUntil ?? 0),
      });
    }
  }

  /**
   * Loads the set from the store, refusing one the store refused and one older than what this
   * ring held when the load started (a load that started earlier may still return an older set,
   * which {@link apply} skips).
   */
  private async load(): Promise<SigningKeySet> {
    const floor = this.revision;
    let set: SigningKeySet;
    try {
      set = await this.options.store.load();
    } catch (error) {
      if (error instanceof SigningKeyError) this.reports.refused(error, undefined, this.revision);
      throw error;
    }
    if (set.revision < floor) {
      throw this.reports.refused(
        new SigningKeyError(
          'rolled_back',
          `the stored signing key set has revision ${set.revision}, lower than revision ${floor} this node loaded: an older set was written back`,
        ),
        set.revision,
        this.revision,
      );
    }
    return set;
  }

  /**
   * Installs a loaded set after checking it; builds verification keys only for kids not seen
   * before. A set older than the one held (read before a newer one arrived) is skipped.
   */
  private apply(set: SigningKeySet): void {
    if (set.revision < this.revision) return;
    if (set.revision === this.revision) {
      if (this.current !== undefined && !sameSet(set, this.current)) {
        throw this.reports.refused(
          new SigningKeyError(
            'tampered',
            `the stored signing key set changed without a new revision (${set.revision})`,
          ),
          set.revision,
          this.revision,
        );
      }
      return;
    }
    let next: Map<string, LoadedKey>;
    try {
      next = loadedKeysOf(set, this.byKid);
    } catch (error) {
      if (error instanceof SigningKeyError) {
        throw this.reports.refused(error, set.revision, this.revision);
      }
      throw error;
    }
    this.byKid = next;
    this.stored = set.keys;
    this.current = set;
    this.revision = set.revision;
    this.reports.accepted();
    this.versionValue++;
  }
}
