export type {
  ConsentGrant,
  ConsentRecord,
  ConsentWithdrawal,
  MarkScope,
  StoreQuery,
  StoreSnapshot,
  WardenStore,
} from './types';
export { MemoryStore, type MemoryStoreOptions } from './memory-store';
