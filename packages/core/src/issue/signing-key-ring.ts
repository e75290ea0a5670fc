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
  type JwkSet,
  type SigningAlgorithm,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
} from './signing-keys';
import type { AuditRecorder } from './lifecycle';
import { checkKeyMaterial, SigningKeyError, stableJson } from './signing-key-integrity';
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
  /**
   * Lifecycle audit events (`signing_key.created`, `.rotated`, `.retired`, and `.refused` when a
   * stored key set is refused). Default: none.
   */
  readonly audit?: AuditRecorder;
  /**
   * `signing_key_rotations_total` (each time a new key takes over, seen at a maintenance pass)
   * and `signing_key_age_seconds` (age of the active key, every pass). Default: none.
   */
  readonly metrics?: Pick<WardenMetrics, 'signingKeyRotation' | 'signingKeyAge'>;
  /**
   * Warnings when a background refresh fails; errors (to `error` when the logger has it, else
   * `warn`) when a stored key set is refused. Default: stderr.
   */
  readonly logger?: Pick<Logger, 'warn'> & Partial<Pick<Logger, 'error'>>;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

interface LoadedKey {
  readonly stored: StoredSigningKey;
  readonly ring: RingKey;
  readonly private: KeyObject;
}

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
  /** The last refusal reported, so a set refused at every refresh is reported once. */
  private lastRefusal: string | undefined;
  /** The store as rotations see it: every load checked as the ring's own. */
  private readonly checkedStore: SigningKeyStore;
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
    const set = await this.load();
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
      if (error instanceof SigningKeyError) this.refused(error);
      throw error;
    }
    if (set.revision < floor) {
      throw this.refused(
        new SigningKeyError(
          'rolled_back',
          `the stored signing key set has revision ${set.revision}, lower than revision ${floor} this node loaded: an older set was written back`,
        ),
        set.revision,
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
        throw this.refused(
          new SigningKeyError(
            'tampered',
            `the stored signing key set changed without a new revision (${set.revision})`,
          ),
          set.revision,
        );
      }
      return;
    }
    let next: Map<string, LoadedKey>;
    try {
      next = this.checked(set);
    } catch (error) {
      if (error instanceof SigningKeyError) throw this.refused(error, set.revision);
      throw error;
    }
    this.byKid = next;
    this.stored = set.keys;
    this.current = set;
    this.revision = set.revision;
    this.lastRefusal = undefined;
    this.versionValue++;
  }

  /** The keys of a set, each checked against its metadata and against the key held under its kid. */
  private checked(set: SigningKeySet): Map<string, LoadedKey> {
    if (!Array.isArray(set.keys)) {
      throw new SigningKeyError('malformed', 'the stored signing key set has no list of keys');
    }
    const next = new Map<string, LoadedKey>();
    for (const stored of set.keys) {
      const where = `stored signing key '${String(stored?.kid)}'`;
      if (next.has(stored?.kid)) throw new SigningKeyError('tampered', `${where} appears twice`);
      const known = this.byKid.get(stored?.kid);
      if (known) {
        const changed = changedIdentity(known.stored, stored);
        if (changed !== undefined) {
          throw new SigningKeyError('tampered', `${where} changed its ${changed}`);
        }
        next.set(stored.kid, { ...known, stored });
        continue;
      }
      const key = checkKeyMaterial(stored);
      let ring: RingKey;
      try {
        ring = toRingKey({ kid: stored.kid, alg: stored.alg, key }, [stored.alg]);
      } catch {
        throw new SigningKeyError('tampered', `${where} is not a usable ${stored.alg} key`);
      }
      next.set(stored.kid, { stored, ring, private: key });
    }
    return next;
  }

  /**
   * Reports a refused set once (audit event and error log; the same refusal again at the next
   * refresh is not reported again) and gives the error to throw.
   */
  private refused(error: SigningKeyError, revision?: number): SigningKeyError {
    const id = `${error.reason}:${revision ?? ''}:${error.message}`;
    if (id === this.lastRefusal) return error;
    this.lastRefusal = id;
    this.options.audit?.recordEvent({
      type: 'signing_key.refused',
      outcome: 'failure',
      reason: error.code,
      detail: {
        problem: error.reason,
        ...(revision === undefined ? {} : { revision }),
        keptRevision: this.revision,
      },
    });
    const logger = this.options.logger ?? console;
    const fields = {
      code: error.code,
      problem: error.reason,
      ...(revision === undefined ? {} : { revision }),
      keptRevision: this.revision,
      error: error.message,
    };
    const message = 'signing key ring refused the stored key set; keeping the keys it has';
    if (logger.error) logger.error(message, fields);
    else logger.warn(message, fields);
    return error;
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
    // A refused set was reported as an error already.
    if (error instanceof SigningKeyError) return;
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

/**
 * The first of a key's fixed fields (algorithm, secret, public key, creation and activation
 * times) that differs in `next`; undefined when none does. Only `verifyUntil` may change: a
 * rotation sets (or, replacing a key that never signed, moves) it.
 */
function changedIdentity(held: StoredSigningKey, next: StoredSigningKey): string | undefined {
  if (held.alg !== next.alg) return 'algorithm';
  if (held.secret !== next.secret) return 'secret';
  if (held.createdAt !== next.createdAt) return 'creation time';
  if (held.activeFrom !== next.activeFrom) return 'activation time';
  if (stableJson(held.publicJwk) !== stableJson(next.publicJwk)) return 'public key';
  return undefined;
}

/** True when two sets hold the same settings and the same keys, in the same order. */
function sameSet(a: SigningKeySet, b: SigningKeySet): boolean {
  return (
    stableJson(a.settings) === stableJson(b.settings) &&
    a.keys.length === b.keys.length &&
    a.keys.every(
      (key, i) =>
        changedIdentity(key, b.keys[i]!) === undefined &&
        key.kid === b.keys[i]!.kid &&
        key.verifyUntil === b.keys[i]!.verifyUntil,
    )
  );
}
