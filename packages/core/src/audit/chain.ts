/**
 * The audit trail's hash chain: each producer's events link to the one before, each hashed over
 * its canonical serialisation, keyed (HMAC-SHA-256) by default. The hashing lives in
 * chain-hash.ts, verification in chain-verify.ts, signed checkpoints in checkpoints.ts.
 */
export {
  canonicalJson,
  canonicalLine,
  CANONICAL_FIELDS,
  chainKeyId,
  ChainHasher,
  sortedKeys,
} from './chain-hash';
export { verifyChains } from './chain-verify';

/**
 * A producer's seq and hash at some point, kept apart from the events to catch a cut tail: the
 * last event a sink stored (the Redis chain heads), an earlier report's last event (an anchor),
 * or a signed checkpoint.
 */
export interface ChainHead {
  readonly producer: string;
  readonly seq: number;
  readonly hash: string;
  /** When the event at `seq` was written (epoch ms), if known. */
  readonly at?: number;
  /** Where the head comes from, for messages. Default: `'head'`. */
  readonly source?: 'head' | 'anchor' | 'checkpoint';
}

/** Kinds of break {@link verifyChains} reports. */
export type ChainProblemKind =
  /** The event's content does not match its hash. */
  | 'altered'
  /** The event does not link to the one before it (an edit, or an event replaced). */
  | 'broken_link'
  /** Sequence numbers jump: events were deleted. */
  | 'missing'
  /** A sequence number goes backwards: events were moved. */
  | 'reordered'
  /** The same sequence number twice. */
  | 'duplicate'
  /** The chain ends before its recorded head or a signed checkpoint: the tail was cut. */
  | 'truncated'
  /** The chain starts after seq 1 where retention cannot have trimmed it: the start was cut. */
  | 'cut_start'
  /** A producer with heads or signed checkpoints has no events left, inside retention. */
  | 'vanished'
  /** The stored line is not the canonical serialisation of the event it holds. */
  | 'noncanonical'
  /** An unkeyed (SHA-256) hash where a keyed chain is expected: anyone could recompute it. */
  | 'unkeyed'
  /** Keyed hashes but no key given: the content cannot be checked. */
  | 'unverifiable'
  /** Not an event of a chain (no producer, seq or hash). */
  | 'malformed';

/** One break in a chain. */
export interface ChainProblem {
  readonly kind: ChainProblemKind;
  /** Sequence number where it shows. */
  readonly seq?: number;
  /** The event id, when there is an event. */
  readonly id?: string;
  /** Where the event sits in the input (0-based). */
  readonly index?: number;
  readonly message: string;
}

/** Verdict on one producer's chain. */
export interface ChainReport {
  readonly producer: string;
  /** Events seen. */
  readonly events: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** Hash of the last event: keep it (with `lastSeq`) elsewhere to anchor the chain. */
  readonly lastHash: string | undefined;
  /** True when the first event is not seq 1 and retention explains it (not a cut start). */
  readonly trimmedBefore: boolean;
  readonly keyed: boolean;
  readonly intact: boolean;
  readonly problems: readonly ChainProblem[];
}

/** Options of {@link verifyChains}. */
export interface VerifyChainOptions {
  /**
   * The chain key. With it, an unkeyed (plain SHA-256) hash is a problem (`unkeyed`): whoever
   * can write the trail can recompute an unkeyed chain.
   */
  readonly key?: Buffer;
  /**
   * Recorded heads, anchors and verified signed checkpoints (a producer's seq and hash at some
   * point): a chain that ends before one was cut, and an event at that seq with another hash was
   * rewritten.
   */
  readonly heads?: readonly ChainHead[];
  /**
   * A head recorded before this time (epoch ms) whose producer has no events left was trimmed
   * by retention, not cut. Superseded by `retention`. Default: every head must still have its
   * events.
   */
  readonly retainedSince?: number;
  /**
   * What the trail's retention allows: `'off'` (nothing is ever trimmed: a chain must start at
   * seq 1, and every producer with a head must have events) or `{ since }` (events written at or
   * after `since`, epoch ms, must still be there: a head inside that window before a chain's first
   * event, or of a producer without events, shows a cut start or a vanished producer). Default:
   * none (a chain starting after seq 1 is taken as trimmed).
   */
  readonly retention?: 'off' | { readonly since: number };
  /** Events without chain fields (e.g. written by another tool) are skipped, not reported. */
  readonly skipUnchained?: boolean;
}
