/**
 * The state Tokenwarden keeps outside the token: revocation marks and consent records.
 * Every time is absolute, in integer epoch milliseconds (`...At`).
 */

/** Which population a not-before mark applies to. */
export type MarkScope = 'subject' | 'client' | 'all';

/** One data subject's consent to one purpose. */
export interface ConsentRecord {
  /** The data subject the consent belongs to. */
  readonly subject: string;
  /** The purpose of processing, one of the policy's purposes. */
  readonly purpose: string;
  /** When consent was (last) granted; epoch ms. */
  readonly grantedAt: number;
  /** When the consent lapses; epoch ms. Absent: until withdrawn. */
  readonly expiresAt?: number;
  /** When consent was last withdrawn; epoch ms. Kept after a re-grant so older tokens stay refused. */
  readonly withdrawnAt?: number;
  /** Where the consent was collected or withdrawn (`privacy-portal`, `api`, `cli`, a form id). */
  readonly source?: string;
  /**
   * The notice the data subject agreed to: `<id>@<version>` (`privacy-notice@2026-03`) or the
   * hash of its text (`sha256:<64 hex>`). Kept through a withdrawal; replaced by a re-grant.
   */
  readonly notice?: string;
  /**
   * A reference to the proof of the grant (a form submission id, the hash of a signed receipt),
   * never the personal data itself. Kept through a withdrawal; replaced by a re-grant.
   */
  readonly evidence?: string;
  /**
   * Set by a withdrawal: when the record is deleted (epoch ms), its retention after withdrawal
   * over. Cleared by a re-grant. Absent: kept until erased.
   */
  readonly keepUntil?: number;
}

/** What one request needs from the store; answered in one round trip. */
export interface StoreQuery {
  /** The token id (`jti`). */
  readonly tokenId: string;
  /** The token subject (`sub`). */
  readonly subject: string;
  /** The client the token was issued to, if the token names one. */
  readonly client?: string;
  /** The consent record to fetch, for routes that declare a purpose. */
  readonly consent?: { readonly subject: string; readonly purpose: string };
}

/** The store's answer to a {@link StoreQuery}. */
export interface StoreSnapshot {
  /** True when the token id itself is revoked. */
  readonly tokenRevoked: boolean;
  /** Not-before marks (epoch ms): tokens issued at or before a mark are refused. */
  readonly notBefore: {
    readonly subject?: number;
    readonly client?: number;
    readonly all?: number;
  };
  /** The consent record asked for; `undefined` if none was asked for or none exists. */
  readonly consent?: ConsentRecord;
}

/** A consent grant. */
export interface ConsentGrant {
  readonly subject: string;
  readonly purpose: string;
  /** When it was granted; epoch ms. */
  readonly grantedAt: number;
  /** When it lapses; epoch ms. Absent: until withdrawn. */
  readonly expiresAt?: number;
  /** Where it was collected: `privacy-portal`, `api`, `cli`, a form id. */
  readonly source?: string;
  /** The notice agreed to: `<id>@<version>` or `sha256:<64 hex>` of its text. */
  readonly notice?: string;
  /** A reference to the proof of the grant (form submission id, receipt hash). */
  readonly evidence?: string;
}

/** A consent withdrawal. */
export interface ConsentWithdrawal {
  readonly subject: string;
  readonly purpose: string;
  /** When it was withdrawn; epoch ms. */
  readonly withdrawnAt: number;
  /** Where it was withdrawn. */
  readonly source?: string;
  /**
   * When the record may be deleted (epoch ms): the end of its retention after withdrawal. The
   * later of this and an earlier withdrawal's time wins. Default: `withdrawnAt` plus the store's
   * `consentRetentionMs` ({@link DEFAULT_CONSENT_RETENTION_MS} unless set).
   */
  readonly keepUntil?: number;
}

/**
 * How long a withdrawn consent record is kept, by default, before it is deleted: 3 years, the
 * usual limitation period in which the controller may have to prove what was agreed and when it
 * was withdrawn. Set it from the policy's `retention.consentAfterWithdrawal`.
 */
export const DEFAULT_CONSENT_RETENTION_MS = 3 * 365 * 86_400_000;

/**
 * Where revocation marks and consent records live. Every method returns a Promise and rejects
 * (never resolves with a guess) when the backend cannot answer; the warden turns that into
 * `store_unavailable`. A store that finds its state lost (see {@link EpochStore}) rejects `lookup`
 * and `getConsent` with `StoreStateLostError`, which the warden answers with `store_state_lost`.
 * Implementations: `MemoryStore` (core) and `RedisStore` (@tokenwarden/redis). Both pass the
 * contract suite in the private `@tokenwarden/testing` package.
 */
export interface WardenStore {
  /** Answers everything one request needs in one round trip. */
  lookup(query: StoreQuery): Promise<StoreSnapshot>;
  /** Revokes one token id until `expiresAt` (epoch ms), after which the token is expired anyway. */
  revokeToken(tokenId: string, expiresAt: number): Promise<void>;
  /**
   * Refuses tokens issued at or before `at` (epoch ms) for a subject, a client or everyone
   * (`id` is ignored for `'all'`). A later mark never moves back to an earlier time. The mark may
   * be forgotten after `keepUntil` (epoch ms), when every token it could refuse has expired.
   */
  setNotBefore(scope: MarkScope, id: string, at: number, keepUntil: number): Promise<void>;
  /** Records a grant; keeps the last withdrawal time so tokens issued before it stay refused. */
  grantConsent(grant: ConsentGrant): Promise<ConsentRecord>;
  /** Records a withdrawal; a withdrawal with no prior grant is still recorded. */
  withdrawConsent(withdrawal: ConsentWithdrawal): Promise<ConsentRecord>;
  /** Reads one consent record, or `undefined`. */
  getConsent(subject: string, purpose: string): Promise<ConsentRecord | undefined>;
  /**
   * Every consent record of one data subject, whatever the purpose, sorted by purpose. Records
   * past their retention after withdrawal are not listed.
   */
  consentRecords(subject: string): Promise<readonly ConsentRecord[]>;
  /**
   * Deletes every consent record of one data subject (the right to erasure) and announces it to
   * local caches. Resolves with the purposes whose records were deleted, sorted; empty when none.
   * The history stays in the audit trail, not in the store.
   */
  eraseConsent(subject: string): Promise<readonly string[]>;
  /**
   * Optional: the answer of {@link WardenStore.lookup} when it is in memory, without I/O, else
   * `undefined` (then the warden calls `lookup`). Lets requests served from memory skip a promise.
   */
  cachedLookup?(query: StoreQuery): StoreSnapshot | undefined;
  /**
   * Optional: the consent record when it is in memory (`null`: known to be absent), else
   * `undefined` (then the warden calls `getConsent`).
   */
  cachedConsent?(subject: string, purpose: string): ConsentRecord | null | undefined;
  /**
   * Optional: resolves when the store can answer now, else rejects with `StoreUnavailableError`
   * naming the cause, within the store's own deadline. For readiness probes (`warden.ready()`);
   * a store without it is taken as usable.
   */
  ping?(): Promise<void>;
  /** Releases what the store opened (timers, connections it created). Idempotent. */
  close(): Promise<void>;
}

/** How the current epoch of a store's state began. */
export type EpochOrigin =
  /** Written by the first node that read a store without one (`RedisStore` `epoch: 'create'`). */
  | 'created'
  /** Written by `tokenwarden state init`, for a new deployment. */
  | 'initialized'
  /** Written by `tokenwarden state restore` once the state was rebuilt from the audit trail. */
  | 'restored'
  /** Written by `tokenwarden state accept-loss` once every older token was refused. */
  | 'accepted';

/**
 * The epoch of a store's state: a generation id written once, read with every state lookup. A
 * store whose epoch disappears or is replaced has lost its state (revocations, not-before marks,
 * consent records), and every node refuses requests with `store_state_lost` until the state is
 * restored or the loss accepted, which starts a new epoch.
 */
export type StoreEpoch =
  /** The state is the one this epoch began; `since`: when it began (epoch ms). */
  | {
      readonly status: 'current';
      readonly id: string;
      readonly origin: EpochOrigin;
      readonly since: number;
    }
  /** The state of epoch `lostId` is gone; `since`: when a node first noticed (epoch ms). */
  | { readonly status: 'lost'; readonly lostId: string; readonly since: number }
  /** No epoch was ever written here: a new deployment, or one from before epochs existed. */
  | { readonly status: 'missing' };

/**
 * A store that keeps an epoch of its state (see {@link StoreEpoch}). `lookup` and `getConsent`
 * reject with `StoreStateLostError` once the state is lost. Both `MemoryStore` (whose state lives
 * and dies with the process: its epoch never changes by itself) and `RedisStore` implement it.
 */
export interface EpochStore extends WardenStore {
  /** Reads the store's epoch. */
  readEpoch(): Promise<StoreEpoch>;
  /**
   * Writes the first epoch of a new deployment (origin `'initialized'`) when the store has no
   * epoch and no record of a lost one; otherwise changes nothing. Resolves with the epoch as it
   * then stands and whether this call wrote it.
   */
  initializeEpoch(): Promise<{ readonly written: boolean; readonly epoch: StoreEpoch }>;
  /**
   * Starts a new epoch once the state was rebuilt (`'restored'`) or its loss accepted
   * (`'accepted'`): it replaces whatever epoch or record of a loss the store holds, and every node
   * adopts it and serves again. Call it only after the state is back, never instead.
   */
  renewEpoch(origin: 'restored' | 'accepted'): Promise<StoreEpoch>;
}

/** Whether the store keeps an epoch of its state. */
export function isEpochStore(store: WardenStore): store is EpochStore {
  return typeof (store as Partial<EpochStore>).readEpoch === 'function';
}

/** A change made through some node, announced so every node's local cache drops what it affects. */
export type Invalidation =
  | { readonly kind: 'token'; readonly id: string }
  | { readonly kind: 'subject' | 'client'; readonly id: string }
  | { readonly kind: 'all' }
  | { readonly kind: 'consent'; readonly subject: string; readonly purpose: string }
  /** Something changed that the message cannot name (an unreadable message): drop everything. */
  | { readonly kind: 'reset' };

/** Receives a feed's messages and its state. */
export interface InvalidationListener {
  /** One change; called in the order the store announced them. */
  invalidate(change: Invalidation): void;
  /**
   * `false` as soon as delivery can no longer be trusted (connection lost, heartbeat missed) or
   * the store's state was found lost (its epoch gone or replaced): the cache must be dropped and
   * bypassed. `true` once every later change is delivered again and the state is current.
   */
  live(isLive: boolean): void;
}

/**
 * Invalidations of a shared store (Redis pub/sub): what lets each node cache revocation marks
 * and consent records locally without ever honouring a stale entry because a message was lost.
 */
export interface InvalidationFeed {
  /** True while every change is known to be delivered. */
  readonly isLive: boolean;
  /** Registers a listener; returns the function that removes it. */
  subscribe(listener: InvalidationListener): () => void;
}

/** A store shared by several nodes that announces its changes, so nodes may cache locally. */
export interface SharedStore extends WardenStore {
  /** The store's change feed (one per store, opened on first call). */
  invalidations(): InvalidationFeed;
}

/** Whether the store announces its changes (and so may be cached locally). */
export function isSharedStore(store: WardenStore): store is SharedStore {
  return typeof (store as Partial<SharedStore>).invalidations === 'function';
}
