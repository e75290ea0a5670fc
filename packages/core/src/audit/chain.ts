import { createHmac, hash as hashOnce } from 'node:crypto';
import { AUDIT_FIELDS, type AuditField } from './fields';
import type { AuditEvent } from './types';

/**
 * Field order of the canonical serialisation: every field of {@link AUDIT_FIELDS} but `hash`, in
 * its order (the stamped fields, then the event's own fields, then the link to the previous
 * event). Fields not in this list follow in sorted order; `detail`'s keys are sorted; absent
 * fields are left out; `hash` is never part of it.
 */
export const CANONICAL_FIELDS: readonly Exclude<AuditField, 'hash'>[] = Object.freeze(
  AUDIT_FIELDS.filter((field): field is Exclude<AuditField, 'hash'> => field !== 'hash'),
);

const KNOWN = new Set<string>(AUDIT_FIELDS);

/**
 * The canonical serialisation the chain hashes: JSON without whitespace (ECMAScript
 * `JSON.stringify` escaping), fields in {@link CANONICAL_FIELDS} order, unknown fields after them
 * in sorted order, `detail` keys sorted, `hash` left out.
 */
export function canonicalJson(event: AuditEvent): string {
  const source = event as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of CANONICAL_FIELDS) {
    const value = source[field];
    if (value === undefined) continue;
    out[field] = field === 'detail' ? sortedKeys(value) : value;
  }
  const extra = Object.keys(source)
    .filter((k) => !KNOWN.has(k) && source[k] !== undefined)
    .sort();
  for (const k of extra) out[k] = source[k];
  return JSON.stringify(out);
}

/** A copy of a plain object with its keys in sorted order; other values as they are. */
export function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(source).sort()) out[k] = source[k];
  return out;
}

/**
 * Hashes canonical serialisations: `hmac-sha256:<base64url>` with a key, `sha256:<base64url>`
 * without one.
 */
export class ChainHasher {
  constructor(private readonly key: Buffer | undefined) {}

  /** Whether hashes are keyed. */
  get keyed(): boolean {
    return this.key !== undefined;
  }

  /** The hash of one canonical serialisation. */
  digest(canonical: string): string {
    return this.key === undefined
      ? // One call, no Hash object: about half the cost of createHash for an event.
        'sha256:' + hashOnce('sha256', canonical, 'base64url')
      : 'hmac-sha256:' + createHmac('sha256', this.key).update(canonical).digest('base64url');
  }
}

/** The last event a sink stored for one producer, kept apart from the events to catch a cut tail. */
export interface ChainHead {
  readonly producer: string;
  readonly seq: number;
  readonly hash: string;
  /** When the head was recorded (epoch ms), if known. */
  readonly at?: number;
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
  /** The chain ends before its recorded head: the tail was cut. */
  | 'truncated'
  /** Keyed hashes but no key given (or the other way round): the content cannot be checked. */
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
  /** True when the first event is not seq 1: earlier events were trimmed (retention). */
  readonly trimmedBefore: boolean;
  readonly keyed: boolean;
  readonly intact: boolean;
  readonly problems: readonly ChainProblem[];
}

/** Options of {@link verifyChains}. */
export interface VerifyChainOptions {
  /** The chain key, for keyed chains. */
  readonly key?: Buffer;
  /**
   * Recorded heads or anchors (a producer's seq and hash at some point, e.g. the `lastSeq` and
   * `lastHash` of an earlier report kept elsewhere): a chain that ends before one was cut, and an
   * event at that seq with another hash was rewritten.
   */
  readonly heads?: readonly ChainHead[];
  /**
   * A head recorded before this time (epoch ms) whose producer has no events left was trimmed
   * by retention, not cut. Default: every head must still have its events.
   */
  readonly retainedSince?: number;
  /** Events without chain fields (e.g. written by another tool) are skipped, not reported. */
  readonly skipUnchained?: boolean;
}

/**
 * Checks every producer's hash chain in `events` (in stored order): each event's hash over its
 * canonical serialisation, each link to the previous event, gap-free sequence numbers, and the end
 * of each chain against its recorded head. Detects altered, deleted and reordered events and a
 * cut tail; a chain that starts after seq 1 is reported as trimmed, not broken.
 */
export function verifyChains(
  events: Iterable<AuditEvent>,
  options: VerifyChainOptions = {},
): ChainReport[] {
  const hasher = new ChainHasher(options.key);
  const chains = new Map<string, ChainState>();
  const marks = new Map<string, ChainHead[]>();
  for (const head of options.heads ?? []) {
    marks.set(head.producer, [...(marks.get(head.producer) ?? []), head]);
  }
  const loose: ChainProblem[] = [];
  let index = -1;
  for (const event of events) {
    index += 1;
    const { producer, seq, hash } = event;
    if (
      typeof producer !== 'string' ||
      typeof seq !== 'number' ||
      !Number.isInteger(seq) ||
      typeof hash !== 'string'
    ) {
      if (!options.skipUnchained) {
        loose.push({
          kind: 'malformed',
          index,
          id: typeof event.id === 'string' ? event.id : undefined,
          message: 'event without producer, seq or hash',
        });
      }
      continue;
    }
    let chain = chains.get(producer);
    if (chain === undefined) {
      chain = new ChainState(producer, marks.get(producer));
      chains.set(producer, chain);
    }
    chain.add(event, seq, hash, index, hasher);
  }
  for (const head of options.heads ?? []) {
    let chain = chains.get(head.producer);
    if (chain === undefined) {
      const trimmed =
        options.retainedSince !== undefined &&
        head.at !== undefined &&
        head.at < options.retainedSince;
      if (trimmed) continue;
      chain = new ChainState(head.producer, undefined);
      chains.set(head.producer, chain);
    }
    chain.checkHead(head);
  }
  const reports = [...chains.values()].map((c) => c.report());
  if (loose.length > 0) {
    reports.push({
      producer: '',
      events: loose.length,
      firstSeq: undefined,
      lastSeq: undefined,
      lastHash: undefined,
      trimmedBefore: false,
      keyed: hasher.keyed,
      intact: false,
      problems: loose,
    });
  }
  return reports;
}

class ChainState {
  private count = 0;
  private first: number | undefined;
  private lastSeq: number | undefined;
  private lastHash: string | undefined;
  private keyed = false;
  private unverifiable = false;
  private readonly problems: ChainProblem[] = [];

  /** Hash expected at a seq, from the heads. */
  private readonly expected = new Map<number, string>();

  constructor(
    private readonly producer: string,
    heads: readonly ChainHead[] | undefined,
  ) {
    for (const head of heads ?? []) this.expected.set(head.seq, head.hash);
  }

  add(event: AuditEvent, seq: number, hash: string, index: number, hasher: ChainHasher): void {
    this.count += 1;
    const id = event.id;
    const eventKeyed = hash.startsWith('hmac-sha256:');
    if (eventKeyed) this.keyed = true;
    if (eventKeyed !== hasher.keyed) {
      if (!this.unverifiable) {
        this.unverifiable = true;
        this.problems.push({
          kind: 'unverifiable',
          seq,
          id,
          index,
          message: eventKeyed
            ? 'the chain is keyed (HMAC): pass the chain key to check its content'
            : 'the chain is not keyed but a key was given',
        });
      }
    } else if (hasher.digest(canonicalJson(event)) !== hash) {
      this.problems.push({ kind: 'altered', seq, id, index, message: `event ${seq} was altered` });
    }
    const last = this.lastSeq;
    if (last === undefined) {
      this.first = seq;
      if (seq === 1 && event.prevHash !== undefined) {
        this.problems.push({
          kind: 'broken_link',
          seq,
          id,
          index,
          message: 'the first event links to a previous one',
        });
      }
    } else if (seq === last + 1) {
      if (event.prevHash !== this.lastHash) {
        this.problems.push({
          kind: 'broken_link',
          seq,
          id,
          index,
          message: `event ${seq} does not link to event ${last}`,
        });
      }
    } else if (seq > last + 1) {
      this.problems.push({
        kind: 'missing',
        seq,
        id,
        index,
        message:
          seq === last + 2
            ? `event ${last + 1} is missing`
            : `events ${last + 1} to ${seq - 1} are missing`,
      });
    } else if (seq === last && hash === this.lastHash) {
      this.problems.push({
        kind: 'duplicate',
        seq,
        id,
        index,
        message: `event ${seq} is stored twice`,
      });
      return;
    } else {
      this.problems.push({
        kind: 'reordered',
        seq,
        id,
        index,
        message: `event ${seq} comes after event ${last}`,
      });
    }
    const expected = this.expected.get(seq);
    if (expected !== undefined && expected !== hash) {
      this.problems.push({
        kind: 'altered',
        seq,
        id,
        index,
        message: `event ${seq} differs from its recorded head`,
      });
    }
    this.expected.delete(seq);
    this.lastSeq = seq;
    this.lastHash = hash;
  }

  checkHead(head: ChainHead): void {
    const last = this.lastSeq;
    if (last === undefined || last < head.seq) {
      this.problems.push({
        kind: 'truncated',
        seq: head.seq,
        message:
          last === undefined
            ? `every event up to the recorded head ${head.seq} is gone`
            : `the chain ends at event ${last} but its recorded head is event ${head.seq}`,
      });
    }
    // A head inside the chain was compared when its event went by (see add).
  }

  report(): ChainReport {
    return {
      producer: this.producer,
      events: this.count,
      firstSeq: this.first,
      lastSeq: this.lastSeq,
      lastHash: this.lastHash,
      trimmedBefore: this.first !== undefined && this.first > 1,
      keyed: this.keyed,
      intact: this.problems.length === 0,
      problems: this.problems,
    };
  }
}
