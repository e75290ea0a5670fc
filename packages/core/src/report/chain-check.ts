import { verifyChains, type AuditEvent, type ChainProblem } from '../audit';
import { MAX_PROBLEMS_KEPT, type ChainVerdict, type ReportChain } from './types';

/** Events verified together; the chain is carried from one batch to the next. */
const BATCH = 2_000;
/** Unreadable entries whose place is kept. */
const MAX_PLACES = 20;

interface Tail {
  events: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  lastHash: string | undefined;
  keyed: boolean;
  problems: ChainProblem[];
  problemCount: number;
}

/** The first event of a producer within a batch: what links it to the previous batch. */
interface Joint {
  readonly seq: number;
  readonly hash: string;
  readonly prevHash: string | undefined;
  readonly id: string;
  readonly index: number;
}

/**
 * Verifies the hash chains of a trail read once, event by event, in bounded memory: events are
 * checked in batches by `verifyChains` (the same checks as `tokenwarden audit verify`) and each
 * batch is joined to the one before it (link, gap, order), so only each producer's last hash is
 * kept between batches.
 */
export class StreamingChainCheck {
  private batch: AuditEvent[] = [];
  private batchStart = 0;
  private index = 0;
  private readonly joints = new Map<string, Joint>();
  private readonly tails = new Map<string, Tail>();
  private unchained = 0;
  private unreadable = 0;
  private readonly unreadableAt: string[] = [];

  constructor(private readonly key: Buffer | undefined) {}

  /** Adds the next event read. */
  add(event: AuditEvent): void {
    const { producer, seq, hash } = event;
    if (typeof producer !== 'string' || typeof seq !== 'number' || typeof hash !== 'string') {
      this.unchained += 1;
      this.index += 1;
      return;
    }
    if (!this.joints.has(producer)) {
      this.joints.set(producer, {
        seq,
        hash,
        prevHash: event.prevHash,
        id: event.id,
        index: this.index,
      });
    }
    this.batch.push(event);
    this.index += 1;
    if (this.batch.length >= BATCH) this.flush();
  }

  /** Counts an entry that holds no readable event. */
  unreadableEntry(where: string): void {
    this.unreadable += 1;
    if (this.unreadableAt.length < MAX_PLACES) this.unreadableAt.push(where);
    this.index += 1;
  }

  /** The verdict over everything added. */
  verdict(): ChainVerdict {
    this.flush();
    const chains: ReportChain[] = [...this.tails.entries()].map(([producer, t]) => ({
      producer,
      events: t.events,
      firstSeq: t.firstSeq,
      lastSeq: t.lastSeq,
      startsAfterFirst: t.firstSeq !== undefined && t.firstSeq > 1,
      intact: t.problemCount === 0,
      problems: t.problems,
      problemCount: t.problemCount,
    }));
    return {
      verified:
        this.unreadable === 0 &&
        this.unchained === 0 &&
        chains.length > 0 &&
        chains.every((c) => c.intact),
      keyed: [...this.tails.values()].some((t) => t.keyed),
      chains,
      unreadable: this.unreadable,
      unreadableAt: this.unreadableAt,
      unchained: this.unchained,
    };
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const reports = verifyChains(this.batch, { key: this.key, skipUnchained: true });
    for (const report of reports) {
      const joint = this.joints.get(report.producer);
      let tail = this.tails.get(report.producer);
      const problems: ChainProblem[] = [];
      if (tail === undefined) {
        tail = {
          events: 0,
          firstSeq: report.firstSeq,
          lastSeq: undefined,
          lastHash: undefined,
          keyed: false,
          problems: [],
          problemCount: 0,
        };
        this.tails.set(report.producer, tail);
      } else if (joint !== undefined && tail.lastSeq !== undefined) {
        const problem = joinProblem(tail.lastSeq, tail.lastHash, joint);
        if (problem) problems.push(problem);
      }
      for (const p of report.problems) {
        // An 'unverifiable' or 'unkeyed' verdict is the same for every batch: keep the first.
        if (
          (p.kind === 'unverifiable' || p.kind === 'unkeyed') &&
          tail.problems.some((q) => q.kind === p.kind)
        ) {
          continue;
        }
        problems.push(p.index === undefined ? p : { ...p, index: p.index + this.batchStart });
      }
      tail.events += report.events;
      tail.lastSeq = report.lastSeq;
      tail.lastHash = report.lastHash;
      tail.keyed ||= report.keyed;
      tail.problemCount += problems.length;
      for (const p of problems) if (tail.problems.length < MAX_PROBLEMS_KEPT) tail.problems.push(p);
    }
    this.batchStart = this.index;
    this.batch = [];
    this.joints.clear();
  }
}

/** How the first event of a batch fails to follow the last event of the previous one, if it does. */
function joinProblem(
  last: number,
  lastHash: string | undefined,
  joint: Joint,
): ChainProblem | undefined {
  const at = { seq: joint.seq, id: joint.id, index: joint.index };
  if (joint.seq === last + 1) {
    return joint.prevHash === lastHash
      ? undefined
      : {
          kind: 'broken_link',
          ...at,
          message: `event ${joint.seq} does not link to event ${last}`,
        };
  }
  if (joint.seq > last + 1) {
    return {
      kind: 'missing',
      ...at,
      message:
        joint.seq === last + 2
          ? `event ${last + 1} is missing`
          : `events ${last + 1} to ${joint.seq - 1} are missing`,
    };
  }
  if (joint.seq === last && joint.hash === lastHash) {
    return { kind: 'duplicate', ...at, message: `event ${joint.seq} is stored twice` };
  }
  return { kind: 'reordered', ...at, message: `event ${joint.seq} comes after event ${last}` };
}
