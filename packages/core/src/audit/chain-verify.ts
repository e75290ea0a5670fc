import type { ChainHead, ChainProblem, ChainReport, VerifyChainOptions } from './chain';
import { canonicalJson, canonicalLine, ChainHasher } from './chain-hash';
import { storedLine } from './line';
import type { AuditEvent } from './types';

/**
 * Checks every producer's hash chain in `events` (in stored order): each event's hash over its
 * canonical serialisation, each stored line against its canonical form, each link to the previous
 * event, gap-free sequence numbers, and each chain against its recorded heads and signed
 * checkpoints. Detects altered, deleted and reordered events, a cut tail, a cut start (when
 * `retention` says nothing may have been trimmed), a vanished producer and an unkeyed chain where
 * a keyed one is expected.
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
  const retention = options.retention;
  for (const head of options.heads ?? []) {
    let chain = chains.get(head.producer);
    if (chain === undefined) {
      if (trimmedAway(head, options)) continue;
      chain = new ChainState(head.producer, undefined);
      chains.set(head.producer, chain);
    }
    chain.checkHead(head, retention);
  }
  if (retention !== undefined) for (const chain of chains.values()) chain.checkStart(retention);
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

/** Whether a head whose producer has no events left may have been trimmed by retention. */
function trimmedAway(head: ChainHead, options: VerifyChainOptions): boolean {
  const retention = options.retention;
  if (retention === 'off') return false;
  const since = retention?.since ?? options.retainedSince;
  return since !== undefined && head.at !== undefined && head.at < since;
}

/**
 * When a producer started, from its id (`<name>.<start time base36>-<6 hex>`, as the audit trail
 * names producers): its first event cannot be older. Undefined for other names.
 */
function producerStart(producer: string): number | undefined {
  const match = /\.([0-9a-z]{1,11})-[0-9a-f]{6}$/.exec(producer);
  if (match === null) return undefined;
  const ms = parseInt(match[1]!, 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** How a head is named in messages. */
function headName(head: ChainHead): string {
  const when = head.at === undefined ? '' : ` (${new Date(head.at).toISOString()})`;
  const what =
    head.source === 'checkpoint'
      ? 'a signed checkpoint'
      : head.source === 'anchor'
        ? 'an anchor'
        : 'the recorded head';
  return `${what} at event ${head.seq}${when}`;
}

class ChainState {
  private count = 0;
  private first: number | undefined;
  private lastSeq: number | undefined;
  private lastHash: string | undefined;
  private keyed = false;
  private unverifiable = false;
  private cutStart = false;
  private readonly problems: ChainProblem[] = [];
  /** Heads before the first event, for the retention check. */
  private readonly heads: ChainHead[] = [];

  /** Heads expected at a seq. */
  private readonly expected = new Map<number, ChainHead[]>();

  constructor(
    private readonly producer: string,
    heads: readonly ChainHead[] | undefined,
  ) {
    for (const head of heads ?? []) {
      this.heads.push(head);
      this.expected.set(head.seq, [...(this.expected.get(head.seq) ?? []), head]);
    }
  }

  add(event: AuditEvent, seq: number, hash: string, index: number, hasher: ChainHasher): void {
    this.count += 1;
    const id = event.id;
    const at = { seq, id, index };
    const eventKeyed = hash.startsWith('hmac-sha256:');
    if (eventKeyed) this.keyed = true;
    const canonical = canonicalJson(event);
    if (eventKeyed !== hasher.keyed) {
      if (!this.unverifiable) {
        this.unverifiable = true;
        this.problems.push(
          eventKeyed
            ? {
                kind: 'unverifiable',
                ...at,
                message: `producer ${this.producer} event ${seq}: the chain is keyed (HMAC); pass the chain key to check its content`,
              }
            : {
                kind: 'unkeyed',
                ...at,
                message: `producer ${this.producer} event ${seq}: the hash is an unkeyed SHA-256 but a chain key is expected; anyone who can write the trail can recompute an unkeyed chain, so it proves nothing`,
              },
        );
      }
    } else if (hasher.digest(canonical) !== hash) {
      this.problems.push({
        kind: 'altered',
        ...at,
        message: `producer ${this.producer} event ${seq} was altered: its content does not match its hash`,
      });
    }
    const line = storedLine(event);
    if (line !== undefined && line !== canonicalLine(event, canonical)) {
      this.problems.push({
        kind: 'noncanonical',
        ...at,
        message: `producer ${this.producer} event ${seq}: the stored line differs from its canonical form (duplicate or reordered keys, whitespace or escapes): it was not written as stored`,
      });
    }
    const last = this.lastSeq;
    if (last === undefined) {
      this.first = seq;
      if (seq === 1 && event.prevHash !== undefined) {
        this.problems.push({
          kind: 'broken_link',
          ...at,
          message: 'the first event links to a previous one',
        });
      }
    } else if (seq === last + 1) {
      if (event.prevHash !== this.lastHash) {
        this.problems.push({
          kind: 'broken_link',
          ...at,
          message: `event ${seq} does not link to event ${last}`,
        });
      }
    } else if (seq > last + 1) {
      this.problems.push({
        kind: 'missing',
        ...at,
        message:
          seq === last + 2
            ? `event ${last + 1} is missing`
            : `events ${last + 1} to ${seq - 1} are missing`,
      });
    } else if (seq === last && hash === this.lastHash) {
      this.problems.push({ kind: 'duplicate', ...at, message: `event ${seq} is stored twice` });
      return;
    } else {
      this.problems.push({
        kind: 'reordered',
        ...at,
        message: `event ${seq} comes after event ${last}`,
      });
    }
    const expected = this.expected.get(seq)?.find((h) => h.hash !== hash);
    if (expected !== undefined) {
      this.problems.push({
        kind: 'altered',
        ...at,
        message: `producer ${this.producer} event ${seq} differs from ${headName(expected)}: it was rewritten`,
      });
    }
    this.expected.delete(seq);
    this.lastSeq = seq;
    this.lastHash = hash;
  }

  checkHead(head: ChainHead, retention: VerifyChainOptions['retention']): void {
    const last = this.lastSeq;
    if (last === undefined) {
      const gone = `every event of producer ${this.producer} is gone, but ${headName(head)} says it wrote them`;
      this.problems.push(
        retention === undefined
          ? { kind: 'truncated', seq: head.seq, message: gone }
          : {
              kind: 'vanished',
              seq: head.seq,
              message:
                retention === 'off'
                  ? `${gone} (retention is off)`
                  : `${gone}, inside the retention window`,
            },
      );
    } else if (last < head.seq) {
      this.problems.push({
        kind: 'truncated',
        seq: head.seq,
        message: `producer ${this.producer}: the chain ends at event ${last} but ${headName(head)} records more: the tail was cut (or ${last + 1 === head.seq ? `event ${head.seq} still waits` : `events ${last + 1} to ${head.seq} still wait`} in a spool)`,
      });
    }
    // A head inside the chain was compared when its event went by (see add).
  }

  /** A chain starting after seq 1: trimmed by retention, or cut. */
  checkStart(retention: NonNullable<VerifyChainOptions['retention']>): void {
    const first = this.first;
    if (first === undefined || first <= 1) return;
    if (retention === 'off') {
      this.cut(first, `events 1 to ${first - 1} are gone and retention is off`);
      return;
    }
    const started = producerStart(this.producer);
    if (started !== undefined && started >= retention.since) {
      this.cut(
        first,
        `events 1 to ${first - 1} are gone, but the producer started at ${new Date(started).toISOString()}, inside the retention window (kept since ${new Date(retention.since).toISOString()}), so none of its events can have been trimmed`,
      );
      return;
    }
    const kept = this.heads
      .filter((h) => h.seq < first && h.at !== undefined && h.at >= retention.since)
      .sort((a, b) => b.seq - a.seq)[0];
    if (kept !== undefined) {
      this.cut(
        first,
        `events up to ${kept.seq} are gone, but ${headName(kept)} is inside the retention window (kept since ${new Date(retention.since).toISOString()})`,
      );
    }
  }

  private cut(first: number, why: string): void {
    this.cutStart = true;
    this.problems.push({
      kind: 'cut_start',
      seq: first,
      message: `producer ${this.producer}: the chain starts at event ${first}; ${why}: the start was cut`,
    });
  }

  report(): ChainReport {
    return {
      producer: this.producer,
      events: this.count,
      firstSeq: this.first,
      lastSeq: this.lastSeq,
      lastHash: this.lastHash,
      trimmedBefore: this.first !== undefined && this.first > 1 && !this.cutStart,
      keyed: this.keyed,
      intact: this.problems.length === 0,
      problems: this.problems,
    };
  }
}
