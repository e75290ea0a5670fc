import type { KeySelector } from './key-ring';
import type { VerifiedToken } from './jwt';

/** Tokens longer than this are verified every time rather than kept in the cache. */
export const MAX_CACHED_TOKEN_BYTES = 2048;

/** How many of a token's last characters index its cache entry. */
const INDEX_CHARS = 32;

function indexOf(raw: string): string {
  return raw.length > INDEX_CHARS ? raw.slice(-INDEX_CHARS) : raw;
}

/** One verified token and what the pipeline derives from it once. */
export interface CachedToken<Extra> {
  readonly token: VerifiedToken;
  /** Whatever the caller attaches (the principal, the audit fingerprint). */
  extra: Extra | undefined;
}

interface Entry<Extra> extends CachedToken<Extra> {
  /** The full token text: a hit needs it to be equal, character for character. */
  readonly raw: string;
  /** Epoch ms; the entry is dead from then on. Never later than the token's `exp`. */
  readonly until: number;
  /** When it was stored or last moved to the young end (see `get`). */
  generation: number;
}

/**
 * Bounded LRU of verified tokens, matched on the full token text: a hit skips the signature check
 * and claim parsing, nothing else (revocation, scope and consent are still checked on every
 * request). An entry lives at most until the token's `exp`, and the whole cache is dropped when
 * the key ring's `version` changes (rotation, a refreshed JWKS).
 *
 * Entries are indexed by the token's last {@link INDEX_CHARS} characters (the end of its
 * signature), which a request's fresh string hashes much faster than its whole text; a hit is
 * then compared in full. Two tokens with the same index share one slot, so the cache never
 * answers for a text it did not verify.
 */
export class VerifiedTokenCache<Extra = never> {
  private readonly entries = new Map<string, Entry<Extra>>();
  private version: number;
  private generation = 0;
  /**
   * Where eviction goes on from, kept across calls: a new iterator would walk over every entry
   * deleted at the front since the Map last compacted, on every eviction.
   */
  private evictor: Iterator<string> | undefined;

  /**
   * @param maxEntries Most tokens kept; the least recently used goes first.
   * @param ring The ring tokens are verified against; its version is watched.
   */
  constructor(
    private readonly maxEntries: number,
    private readonly ring: Pick<KeySelector, 'version'>,
  ) {
    this.version = ring.version;
  }

  /** Number of live or not yet evicted entries. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The verified token for this exact text, if cached and not past its `exp` at `now`. A hit on
   * an entry in the older half is moved to the young end (approximate LRU: most hits cost one
   * Map look-up, and a token in use never reaches the eviction end).
   */
  get(raw: string, now: number): CachedToken<Extra> | undefined {
    if (this.ring.version !== this.version) {
      this.entries.clear();
      this.version = this.ring.version;
      return undefined;
    }
    const index = indexOf(raw);
    const entry = this.entries.get(index);
    if (entry === undefined || entry.raw !== raw) return undefined;
    if (now >= entry.until) {
      this.entries.delete(index);
      return undefined;
    }
    if (this.generation - entry.generation >= this.maxEntries >> 1) {
      this.entries.delete(index);
      entry.generation = ++this.generation;
      this.entries.set(index, entry);
    }
    return entry;
  }

  /** Keeps a token that passed verification at `now`; returns its entry (or a detached one). */
  set(raw: string, token: VerifiedToken, now: number): CachedToken<Extra> {
    const entry: Entry<Extra> = {
      raw,
      token,
      extra: undefined,
      until: token.expiresAt,
      generation: ++this.generation,
    };
    if (
      this.maxEntries <= 0 ||
      raw.length > MAX_CACHED_TOKEN_BYTES ||
      now >= entry.until ||
      this.ring.version !== this.version
    ) {
      return entry;
    }
    const index = indexOf(raw);
    this.entries.delete(index);
    this.entries.set(index, entry);
    if (this.entries.size > this.maxEntries) this.evictOldest();
    return entry;
  }

  /** Forgets every token. */
  clear(): void {
    this.entries.clear();
    this.evictor = undefined;
  }

  /** Drops the least recently used entry (the first in the Map's order). */
  private evictOldest(): void {
    for (let pass = 0; pass < 2; pass++) {
      this.evictor ??= this.entries.keys();
      const next = this.evictor.next();
      if (next.done !== true) {
        this.entries.delete(next.value);
        return;
      }
      this.evictor = undefined;
    }
  }
}
