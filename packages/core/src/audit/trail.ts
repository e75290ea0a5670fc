import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { ConfigError, TokenwardenError } from '../errors';
import { chainKeyId, ChainHasher, sortedKeys } from './chain-hash';
import { CheckpointWriter } from './checkpoint-writer';
import { IsoTimes } from './iso-times';
import { rememberLine } from './line';
import { SubjectSealer, type SealedInput } from './seal';
import type { ResolvedAuditOptions } from './options';
import { SinkLane, type AuditTrailContext } from './sink-lane';
import { FileSpool, MemorySpool, type Spool } from './spool';
import { AUDIT_SCHEMA_VERSION, type AuditEvent, type AuditEventInput } from './types';

export type { AuditTrailContext } from './sink-lane';

/**
 * The audit trail could not make an event durable and the policy is `'refuse'`: the request must
 * not go on. HTTP 503, code `audit_unavailable`.
 */
export class AuditUnavailableError extends TokenwardenError {
  constructor(message = 'the audit trail cannot store events') {
    super('audit_unavailable', message);
  }
}

/** Counters of one trail, for tests and the CLI. */
export interface AuditTrailStats {
  /** Events recorded (given a sequence number). */
  readonly recorded: number;
  /** Events waiting in memory. */
  readonly queued: number;
  /** Bytes waiting in the spools, summed over sinks. */
  readonly spooledBytes: number;
}

const SINK_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Spool files in use by a trail of this process: two trails must never share one. */
const spoolsInUse = new Set<string>();

interface Pending {
  readonly input: AuditEventInput;
  readonly seq: number;
  readonly at: number;
  done?: (durable: boolean) => void;
}

/**
 * Between the pipeline and the sinks: stamps events with a stable id and sequence number, queues
 * them (bounded), seals them into the producer's hash chain in batches off the request path, and
 * hands each batch to every sink. A failing sink's events go to its spool and are replayed in
 * order when it recovers. Failures are counted and logged, never thrown into a request.
 */
export class AuditTrail {
  /** This trail's producer id: `<name>.<start time base36>-<random>`. */
  readonly producer: string;
  private queue: Pending[] = [];
  /** Index of the oldest waiting event in `queue` (taking a batch is O(batch), not O(queue)). */
  private head = 0;
  private seq = 0;
  private lastHash: string | undefined;
  private readonly hasher: ChainHasher;
  /** Signs checkpoints of the chain (`audit.checkpoints`), off the request path. */
  private readonly checkpoints: CheckpointWriter | undefined;
  /** Seals personal fields before they are chained (`audit.subjectKeys`); see seal.ts. */
  private readonly sealer: SubjectSealer | undefined;
  private readonly times = new IsoTimes();
  private readonly lanes: SinkLane[];
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private timerImmediate = false;
  private closed = false;

  constructor(
    private readonly options: ResolvedAuditOptions,
    private readonly context: AuditTrailContext,
  ) {
    this.producer = `${options.producer}.${context.clock.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    this.hasher = new ChainHasher(options.chainKey);
    this.checkpoints =
      options.checkpoints === undefined
        ? undefined
        : new CheckpointWriter(options.checkpoints, {
            producer: this.producer,
            chainKeyId: options.chainKey && chainKeyId(options.chainKey),
            clock: context.clock,
            logError: context.logError,
          });
    this.sealer =
      options.subjectKeys === undefined
        ? undefined
        : new SubjectSealer(options.subjectKeys, () => context.clock.now(), context.logError);
    const names = new Set<string>();
    const paths: string[] = [];
    this.lanes = options.sinks.map((sink, index) => {
      const name = sink.name ?? `sink-${index}`;
      if (!SINK_NAME.test(name)) {
        throw new ConfigError(
          `audit sink name '${name}' must be 1 to 64 characters [A-Za-z0-9._-]`,
        );
      }
      if (names.has(name)) {
        throw new ConfigError(`two audit sinks are named '${name}'; give each sink its own name`);
      }
      names.add(name);
      let spool: Spool;
      if (options.spoolDir === undefined) {
        spool = new MemorySpool(options.spoolMaxBytes);
      } else {
        const file = new FileSpool(
          options.spoolDir,
          name,
          options.spoolMaxBytes,
          options.mode === 'sync',
        );
        const path = resolve(file.path);
        if (spoolsInUse.has(path)) {
          for (const p of paths) spoolsInUse.delete(p);
          throw new ConfigError(
            `audit.spoolDir '${options.spoolDir}' is already used by another audit trail in this process; give each warden its own spool directory`,
          );
        }
        spoolsInUse.add(path);
        paths.push(path);
        spool = file;
      }
      return new SinkLane(sink, spool, options, context, () => this.closed);
    });
    this.spoolPaths = paths;
  }

  private readonly spoolPaths: string[];

  /** Whether any sink receives events. */
  get enabled(): boolean {
    return this.lanes.length > 0;
  }

  /** `'async'` or `'sync'`. */
  get mode(): ResolvedAuditOptions['mode'] {
    return this.options.mode;
  }

  /**
   * False while the policy is `'refuse'` and events cannot be stored (queue full, or a sink down
   * with its spool full or failing): the warden then refuses requests with 503
   * `audit_unavailable`. Always true under the `'drop'` policy.
   */
  get available(): boolean {
    if (this.options.onFailure !== 'refuse' || !this.enabled) return true;
    if (this.closed || this.queued >= this.options.maxQueue) return false;
    return this.lanes.every((lane) => !lane.broken);
  }

  /** Counters of this trail. */
  stats(): AuditTrailStats {
    let spooledBytes = 0;
    for (const lane of this.lanes) spooledBytes += lane.spool.pendingBytes;
    return { recorded: this.seq, queued: this.queued, spooledBytes };
  }

  /**
   * Stamps and queues one event; never throws. In async mode it returns `undefined` at once. In
   * sync mode it returns a promise that resolves once the event is in every sink or in the file
   * spool, and rejects with {@link AuditUnavailableError} when it cannot be stored and the policy
   * is `'refuse'` (under `'drop'` it resolves; the loss is counted). The promise is marked handled,
   * so ignoring it is safe.
   */
  record(input: AuditEventInput): Promise<void> | undefined {
    if (!this.enabled) return undefined;
    if (this.closed || this.queued >= this.options.maxQueue) {
      this.context.metrics.auditEvents('dropped', 1);
      this.context.logError(
        this.closed
          ? 'audit trail closed; events are dropped'
          : 'audit queue full; events are dropped',
        new Error(this.closed ? 'closed' : 'queue full'),
      );
      return this.options.mode === 'sync' ? this.outcome(false) : undefined;
    }
    this.seq += 1;
    const pending: Pending = { input, seq: this.seq, at: this.context.clock.now() };
    this.queue.push(pending);
    this.context.metrics.auditQueueDepth(this.queued);
    if (this.options.mode === 'sync') {
      const promise = new Promise<boolean>((done) => (pending.done = done)).then((durable) =>
        durable ? undefined : this.outcome(false),
      );
      promise.catch(() => undefined);
      // Group commit: the write starts when the event loop is free; events recorded while a
      // write is in flight go together in the next one.
      if (this.timer === undefined) this.drainSoon(0);
      return promise;
    }
    if (this.queued >= this.options.batchSize) this.drainSoon(0);
    else if (this.timer === undefined) this.drainSoon(this.options.flushIntervalMs);
    return undefined;
  }

  /**
   * Resolves when every event recorded so far is in the sinks or their spools, after one replay
   * attempt of each non-empty spool (so a recovered sink catches up now).
   */
  async flush(): Promise<void> {
    do await this.drainNow();
    while (this.queued > 0);
    await Promise.all(this.lanes.map((lane) => lane.replayNow()));
  }

  /** Flushes, then closes every sink. A file spool keeps what it holds for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await Promise.all(this.lanes.map((lane) => lane.close()));
    await this.checkpoints?.close();
    for (const path of this.spoolPaths) spoolsInUse.delete(path);
  }

  private outcome(durable: boolean): Promise<void> {
    if (durable || this.options.onFailure === 'drop') return Promise.resolve();
    const rejected = Promise.reject(new AuditUnavailableError());
    rejected.catch(() => undefined);
    return rejected;
  }

  private drainSoon(delayMs: number): void {
    if (this.timer !== undefined) {
      if (delayMs > 0 || this.timerImmediate) return;
      this.cancelTimer();
    }
    this.timerImmediate = delayMs === 0;
    this.timer =
      delayMs === 0
        ? setImmediate(() => this.onTimer()).unref()
        : setTimeout(() => this.onTimer(), delayMs).unref();
  }

  private cancelTimer(): void {
    const timer = this.timer;
    this.timer = undefined;
    if (timer === undefined) return;
    if (this.timerImmediate) clearImmediate(timer as NodeJS.Immediate);
    else clearTimeout(timer as NodeJS.Timeout);
  }

  private onTimer(): void {
    this.timer = undefined;
    void this.drainNow();
  }

  /**
   * Runs the delivery loop (one at a time) until the queue is empty. A loop started for a full
   * batch in async mode leaves a partial remainder to the flush timer.
   */
  private async drainNow(): Promise<void> {
    this.cancelTimer();
    while (this.draining !== undefined) await this.draining;
    if (this.queued === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
    await this.draining;
  }

  private async drain(): Promise<void> {
    const async = this.options.mode === 'async';
    let first = true;
    while (this.queued > 0) {
      if (async && !first && this.queued < this.options.batchSize) {
        if (this.timer === undefined) this.drainSoon(this.options.flushIntervalMs);
        return;
      }
      first = false;
      const batch = this.takeBatch();
      this.context.metrics.auditQueueDepth(this.queued);
      // New data subjects' keys are made durable before any event uses them.
      if (this.sealer !== undefined) await this.sealer.prepare(batch.map((p) => p.input));
      const events = batch.map((p) => this.seal(p));
      // Only what is needed after the write stays referenced across it: in async mode nothing
      // waits, so the batch's inputs can be collected while the sinks wait for their stores.
      const waiting = async ? undefined : batch.map((p) => p.done);
      const last = events[events.length - 1];
      const count = events.length;
      const results = await Promise.all(this.lanes.map((lane) => lane.deliver(events)));
      const durable = results.every((ok) => ok);
      if (waiting !== undefined) for (const done of waiting) done?.(durable);
      this.checkpoints?.note(last, count);
    }
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  /** The oldest `batchSize` waiting events, removed from the queue. */
  private takeBatch(): Pending[] {
    const end = Math.min(this.queue.length, this.head + this.options.batchSize);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /**
   * Builds the final event, in canonical field order (`CANONICAL_FIELDS`), and links it
   * into the chain. The fields are copied one by one by name (not in a loop over field names),
   * which keeps the object's construction cheap; the canonical JSON made for the hash is kept as
   * the event's line, so sinks that store text never serialise it again.
   */
  private seal(p: Pending): AuditEvent {
    const input: SealedInput = this.sealer?.apply(p.input) ?? p.input;
    const event: Mutable<AuditEvent> = {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      id: `${this.producer}/${p.seq}`,
      time: this.times.of(p.at),
      producer: this.producer,
      seq: p.seq,
      type: input.type,
      outcome: input.outcome,
    };
    if (input.reason !== undefined) event.reason = input.reason;
    if (input.tokenId !== undefined) event.tokenId = input.tokenId;
    if (input.tokenFingerprint !== undefined) event.tokenFingerprint = input.tokenFingerprint;
    if (input.subject !== undefined) event.subject = input.subject;
    if (input.client !== undefined) event.client = input.client;
    if (input.scopes !== undefined) event.scopes = input.scopes;
    if (input.route !== undefined) event.route = input.route;
    if (input.method !== undefined) event.method = input.method;
    if (input.status !== undefined) event.status = input.status;
    if (input.dataSubject !== undefined) event.dataSubject = input.dataSubject;
    if (input.purpose !== undefined) event.purpose = input.purpose;
    if (input.lawfulBasis !== undefined) event.lawfulBasis = input.lawfulBasis;
    if (input.requestId !== undefined) event.requestId = input.requestId;
    if (input.clientAddress !== undefined) event.clientAddress = input.clientAddress;
    if (input.userAgent !== undefined) event.userAgent = input.userAgent;
    if (input.actor !== undefined) event.actor = input.actor;
    if (input.detail !== undefined) event.detail = sortedKeys(input.detail) as AuditEvent['detail'];
    if (input.sealed !== undefined) event.sealed = input.sealed;
    if (this.lastHash !== undefined) event.prevHash = this.lastHash;
    const canonical = JSON.stringify(event);
    const hash = this.hasher.digest(canonical);
    event.hash = hash;
    this.lastHash = hash;
    // The hash is base64url after an ASCII prefix: nothing in it needs escaping.
    rememberLine(event, `${canonical.slice(0, -1)},"hash":"${hash}"}`);
    return event;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A copy without the absent fields. */
export function clean<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}
