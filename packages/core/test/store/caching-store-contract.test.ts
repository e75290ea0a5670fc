import {
  CachingStore,
  MemoryStore,
  type Invalidation,
  type InvalidationFeed,
  type InvalidationListener,
  type SharedStore,
} from '@tokenwarden/core/internal';
import { storeContract } from '@tokenwarden/testing';

/** A live feed that delivers nothing: this node's own writes are the only changes. */
class QuietFeed implements InvalidationFeed {
  readonly isLive = true;
  subscribe(_listener: InvalidationListener): () => void {
    return () => undefined;
  }
  announce(_change: Invalidation): void {}
}

/** A MemoryStore standing for a shared store, so a CachingStore may sit in front of it. */
class SharedMemoryStore extends MemoryStore implements SharedStore {
  private readonly feed = new QuietFeed();
  invalidations(): InvalidationFeed {
    return this.feed;
  }
}

// The cache in front of a store must answer as the store does: the same contract, through it.
storeContract(
  'CachingStore over a shared MemoryStore',
  async (clock) => {
    const shared = new SharedMemoryStore({ clock });
    return {
      store: new CachingStore(shared, clock, { maxAgeMs: 1 }),
      cleanup: () => shared.close(),
    };
  },
  { epoch: false },
);
