export type {
  ConsentGrant,
  ConsentRecord,
  ConsentWithdrawal,
  Invalidation,
  InvalidationFeed,
  InvalidationListener,
  MarkScope,
  SharedStore,
  StoreQuery,
  StoreSnapshot,
  WardenStore,
} from './types';
export { MemoryStore, type MemoryStoreOptions } from './memory-store';
export { isSharedStore } from './types';
export { CachingStore, type StateCacheOptions } from './caching-store';
