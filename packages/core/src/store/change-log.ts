/** A store read in flight, which later identical reads join instead of making their own. */
export interface Flight<T> {
  /** The epoch when it started: a change to one of `keys` since then keeps newcomers out. */
  readonly epoch: number;
  readonly keys: readonly string[];
  readonly promise: Promise<T>;
}

/** Changes remembered for lookups in flight; older ones make a late answer go uncached. */
const RECENT_CHANGES = 1024;

/**
 * The changes a local cache saw lately, each under the key of the entry it affects. A read that
 * was in flight while one of its own entries changed answers its request but fills nothing, and
 * later identical reads do not join it: nobody gets an answer older than the last change.
 */
export class ChangeLog {
  /** Bumped by every change and by every loss of the feed. */
  private epoch = 0;
  /** The keys of the latest changes, with the epoch each one started (`'*'`: everything). */
  private readonly recent: { epoch: number; key: string }[] = [];

  /** Notes a change to `key` (`'*'`: everything), so lookups in flight do not fill it. */
  touched(key: string): void {
    this.recent.push({ epoch: ++this.epoch, key });
    if (this.recent.length > RECENT_CHANGES) this.recent.splice(0, this.recent.length >> 1);
  }

  /**
   * Whether none of `keys` changed since `epoch` (a lookup's answer may then fill the cache). Only
   * a change to one of its own keys can make a lookup's answer stale; if the changes since then
   * are no longer all remembered, the answer is not kept.
   */
  untouchedSince(epoch: number, keys: readonly string[]): boolean {
    if (epoch === this.epoch) return true;
    const first = this.recent[0];
    if (first === undefined || first.epoch > epoch + 1) return false;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const change = this.recent[i]!;
      if (change.epoch <= epoch) break;
      if (change.key === '*' || keys.includes(change.key)) return false;
    }
    return true;
  }

  /**
   * Runs `read` for `keys`, or joins the identical read in flight when none of `keys` changed
   * since it started (its answer is then as fresh as a cached entry would be).
   */
  fly<T>(
    flights: Map<string, Flight<T>>,
    keys: readonly string[],
    read: (epoch: number) => Promise<T>,
  ): Promise<T> {
    const id = keys.length === 1 ? keys[0]! : flightId(keys);
    const current = flights.get(id);
    if (current !== undefined && this.untouchedSince(current.epoch, keys)) return current.promise;
    const epoch = this.epoch;
    const promise = read(epoch).finally(() => {
      if (flights.get(id) === flight) flights.delete(id);
    });
    const flight: Flight<T> = { epoch, keys, promise };
    flights.set(id, flight);
    return promise;
  }
}

// Key shapes: a one-letter kind, then the ids. Ids may hold any character, so the consent key
// carries the subject's length to stay unambiguous.
/** The key of the mark for everyone. */
export const ALL_KEY = 'a';
/** The key of a token id's revocation. */
export function tokenKey(id: string): string {
  return 't' + id;
}
/** The key of a subject's or client's mark. */
export function markKey(scope: 'subject' | 'client', id: string): string {
  return (scope === 'subject' ? 's' : 'c') + id;
}
/** The key of a consent record. */
export function consentKey(subject: string, purpose: string): string {
  return `p${subject.length}:${subject}${purpose}`;
}
/** One string for several keys, unambiguous whatever they hold. */
function flightId(keys: readonly string[]): string {
  let id = '';
  for (const key of keys) id += `${key.length}:${key}`;
  return id;
}
