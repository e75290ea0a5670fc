import type { RecordCipher } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import type { KeySpace } from './keys';
import type { COMMANDS, ScriptCalls } from './scripts';
import type { WaitPipeline } from './store-durability';
import type { EpochTracker } from './store-epoch';

/** The client members the store calls: its script commands and HMGET. */
export type StoreClient = ScriptCalls<
  (typeof COMMANDS)[
    | 'lookup'
    | 'raise'
    | 'grant'
    | 'withdraw'
    | 'consentGet'
    | 'consentList'
    | 'consentErase'
    | 'heartbeat'
    | 'epochWrite'
    | 'epochCheck'
    | 'epochSpread']
> & {
  hmget(key: string, ...fields: string[]): Promise<unknown>;
  /** The naming check (see `NamingCheck`, store-naming.ts). */
  tokenwardenNamingCheck(recordKey: string, epochKey: string, tag: string): Promise<unknown>;
  ping(): Promise<unknown>;
  hset(key: string, field: string, value: string): Promise<unknown>;
  pipeline(): DurablePipeline;
  /** One SCAN page (a standalone client), see {@link ScanNode}. */
  scan?: ScanNode['scan'];
  /** The masters of a Cluster client. */
  nodes?: (role: 'master') => ScanNode[];
};

/** A node that SCANs (a standalone client, or one master of a Cluster). */
export interface ScanNode {
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    n: number,
  ): Promise<[string, string[]]>;
  hset(key: string, ...fieldsAndValues: string[]): Promise<unknown>;
  sadd(key: string, member: string): Promise<unknown>;
}

/** A pipeline of the store's write scripts and WAIT (durable writes). */
export type DurablePipeline = WaitPipeline &
  Record<(typeof COMMANDS)['raise' | 'withdraw'], (...args: string[]) => WaitPipeline>;

/** The naming check of a store (see `NamingCheck`). */
export interface NamingGate {
  /** `undefined` once the naming recorded in Redis matched; else a promise of the check. */
  verify(): Promise<void> | undefined;
  /** Runs the check again, recording this store's naming when Redis records none. */
  again(): Promise<void>;
}

/** What the parts of a `RedisStore` share. @internal */
export interface StoreContext {
  readonly connection: RedisConnection<StoreClient>;
  readonly keys: KeySpace;
  /** Pub/sub channel of the invalidations. */
  readonly channel: string;
  /** The epoch of the state, as this store knows it. */
  readonly epoch: EpochTracker;
  /**
   * Whether Redis names data subjects in keys as this store does; every read and write waits
   * for it to pass once (see `subjectNameKey`).
   */
  readonly naming: NamingGate;
  /** The store's clock, as a script argument. */
  now(): string;
  /** Seals consent docs at rest (`recordCipher`); absent: they are stored as JSON. */
  readonly cipher?: RecordCipher;
  /**
   * Resolves once the naming check passed and this store knows the epoch it reads every bucket
   * against (the `'sharded'` layout joins it once; see `ShardedEpoch`); at once afterwards.
   */
  ready(): Promise<void>;
  /** Tells every bucket of a loss a read found in one of them (the `'sharded'` layout). */
  spreadLoss(id: string, lostAt: string): Promise<void>;
  /**
   * Waits for the first connection (at most the store's `connectTimeoutMs`) before a write or an
   * epoch call. Requests' lookups never wait for it.
   */
  connected(): Promise<void>;
  /**
   * Runs one write script: alone, or followed by `WAIT` in one pipeline when the store has a
   * `durability` option and the write must be replicated.
   */
  write<T>(
    operation: string,
    script: (typeof COMMANDS)['raise' | 'withdraw'],
    args: readonly string[],
    parse: (reply: unknown) => T,
  ): Promise<T>;
}
