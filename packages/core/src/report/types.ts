import type { AuditEvent, ChainProblem } from '../audit';

/** A time window of the trail, in epoch ms; both ends inclusive, either may be open. */
export interface TimeRange {
  /** First instant (epoch ms), inclusive. Default: the oldest event. */
  readonly since?: number;
  /** Last instant (epoch ms), inclusive. Default: the newest event. */
  readonly until?: number;
}

/** How far a read has come, for a progress bar. */
export interface ReadProgress {
  /** Work done, in `unit`s. */
  readonly done: number;
  /** Work expected, in `unit`s (an estimate; 0 when unknown). */
  readonly total: number;
  /** `bytes` of files read, or `ms` of stream time covered. */
  readonly unit: 'bytes' | 'ms';
  /** Events read so far (before any filter). */
  readonly events: number;
}

/** Options of {@link AuditSource.read}. */
export interface AuditReadOptions extends TimeRange {
  /** Called now and then while reading (at most a few times a second). */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** Called for each stored entry that holds no readable event, with where it is. */
  readonly onUnreadable?: (where: string) => void;
}

/**
 * Where reports read the audit trail from: anything that can give the events of a time window,
 * oldest first within each producer. Implementations: {@link JsonLinesSource} (files written by
 * `JsonLinesSink`, rotated ones included), {@link MemorySource}, and `RedisAuditSource`
 * (`@tokenwarden/redis`, the audit stream).
 */
export interface AuditSource {
  /** What is read, for the report's header (a path, a stream key); never a secret. */
  readonly description: string;
  /** The events whose `time` is within the range, in stored order; read once, never held. */
  read(options?: AuditReadOptions): AsyncIterable<AuditEvent>;
}

/** One producer's chain, as verified over the events a report read. */
export interface ReportChain {
  readonly producer: string;
  readonly events: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  /** The first event read is not seq 1: earlier events are outside the period or trimmed. */
  readonly startsAfterFirst: boolean;
  readonly intact: boolean;
  /** Breaks found (the first {@link MAX_PROBLEMS_KEPT} of them). */
  readonly problems: readonly ChainProblem[];
  /** Breaks found in all. */
  readonly problemCount: number;
}

/** Most chain problems kept per producer in a report; the rest are counted. */
export const MAX_PROBLEMS_KEPT = 20;

/** Whether the audit chain verified over the events a report read. */
export interface ChainVerdict {
  /** True when every chain read is intact, every entry was readable and chained. */
  readonly verified: boolean;
  /** Whether the chains are keyed (HMAC). */
  readonly keyed: boolean;
  readonly chains: readonly ReportChain[];
  /** Stored entries that hold no readable event. */
  readonly unreadable: number;
  /** Where the first unreadable entries are (`file:line` or a stream entry id). */
  readonly unreadableAt: readonly string[];
  /** Events without chain fields (producer, seq, hash): their content cannot be checked. */
  readonly unchained: number;
}

/** The period a report covers. */
export interface ReportPeriod {
  /** Requested start (ISO 8601), or absent for "from the oldest event". */
  readonly since?: string;
  /** Requested end (ISO 8601), or absent for "to the newest event". */
  readonly until?: string;
  /** Time of the oldest event read. */
  readonly firstEvent?: string;
  /** Time of the newest event read. */
  readonly lastEvent?: string;
}

/** What every report says about itself. */
export interface ReportHeader {
  /** When the report was made (ISO 8601). */
  readonly generatedAt: string;
  /** The audit source read. */
  readonly source: string;
  readonly period: ReportPeriod;
  /** Events read in the period. */
  readonly eventsRead: number;
  readonly chain: ChainVerdict;
  /** Whether a policy file was given ("could reach" and categories come from it). */
  readonly policy: boolean;
}

/** Options every report takes. */
export interface ReportOptions extends TimeRange {
  /** The chain key of a keyed chain (`audit.chainKey`), to verify it. */
  readonly chainKey?: Buffer;
  /** Progress while reading the trail. */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** Time source for `generatedAt` and "now" (epoch ms). Default: `Date.now`. */
  readonly now?: () => number;
  /**
   * Opens events whose personal fields are sealed (`audit.subjectKeys`): reports then show each
   * data subject's identifier, `erased:<pseudonym>` for an erased one, and the pseudonym when no
   * master key is given. The chain is checked on the events as stored. Default: pseudonyms.
   */
  readonly subjects?: SealedEventReader;
}

/** Gives back the readable form of a stored event (see `SubjectOpener`). */
export interface SealedEventReader {
  open(event: AuditEvent): Promise<AuditEvent>;
}
