import type { AuditEvent } from '@tokenwarden/core';
import type { AuditReadOptions, AuditSource } from '@tokenwarden/core/reports';
import { AuditStreamReader, entryTime } from './stream-reader';
import type { AuditStreamConnection } from './stream-sink';

/** Options of {@link RedisAuditSource}. */
export interface RedisAuditSourceOptions {
  /** A reader to use (not closed by the source), or the connection to open one with. */
  readonly reader?: AuditStreamReader;
  /** The stream's connection, when no `reader` is given. */
  readonly connection?: AuditStreamConnection;
  /**
   * How much later than its event time an event may reach the stream (batching, a spool replayed
   * after an outage), in ms: the read goes this far past `until`. Default: 15 minutes.
   */
  readonly lateArrivalMs?: number;
  /** Clock difference tolerated between the nodes and Redis, in ms. Default: 60 s. */
  readonly clockSkewMs?: number;
  /** Entries per XRANGE call. Default: 1000. */
  readonly pageSize?: number;
}

/** Smallest pause between two progress calls, in ms. */
const PROGRESS_EVERY_MS = 200;

/**
 * The Redis audit stream (written by `RedisStreamSink`) as a report source: reads the entries of
 * a time window page by page through `AuditStreamReader.range` and keeps the events whose own
 * time is in the window. Entries that hold no readable event are reported as unreadable by entry
 * id.
 *
 * @example
 * const source = new RedisAuditSource({ connection: { url: process.env.REDIS_URL } });
 * const report = await scopesReport(source, { policy, since: Date.now() - 30 * 86_400_000 });
 * await source.close();
 */
export class RedisAuditSource implements AuditSource {
  readonly description: string;
  private readonly reader: AuditStreamReader;
  private readonly owned: boolean;
  private readonly lateMs: number;
  private readonly skewMs: number;

  constructor(private readonly options: RedisAuditSourceOptions) {
    if (options.reader === undefined && options.connection === undefined) {
      throw new TypeError("RedisAuditSource needs a 'reader' or a 'connection'");
    }
    this.reader = options.reader ?? new AuditStreamReader(options.connection!);
    this.owned = options.reader === undefined;
    this.lateMs = options.lateArrivalMs ?? 15 * 60_000;
    this.skewMs = options.clockSkewMs ?? 60_000;
    this.description = `redis stream ${this.reader.keys.stream}`;
  }

  async *read(options: AuditReadOptions = {}): AsyncGenerator<AuditEvent> {
    const info = await this.reader.info();
    const first = info.firstEntryId ? entryTime(info.firstEntryId) : undefined;
    const last = info.lastEntryId ? entryTime(info.lastEntryId) : undefined;
    // An event reaches the stream after it happened: its entry time is at least its event time
    // (less clock skew), and at most `lateArrivalMs` after it.
    const since = options.since === undefined ? undefined : options.since - this.skewMs;
    const until = options.until === undefined ? undefined : options.until + this.lateMs;
    const from = Math.max(since ?? first ?? 0, first ?? 0);
    const to = Math.min(until ?? last ?? from, last ?? from);
    const total = Math.max(0, to - from);
    let events = 0;
    let lastProgress = 0;
    options.onProgress?.({ done: 0, total, unit: 'ms', events });
    for await (const { entryId, event } of this.reader.range({
      since,
      until,
      pageSize: this.options.pageSize,
    })) {
      events += 1;
      if (options.onProgress) {
        const now = Date.now();
        if (now - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = now;
          const done = Math.min(total, Math.max(0, entryTime(entryId) - from));
          options.onProgress({ done, total, unit: 'ms', events });
        }
      }
      if (event === undefined || typeof event.time !== 'string') {
        options.onUnreadable?.(`entry ${entryId}`);
        continue;
      }
      const t = Date.parse(event.time);
      if (Number.isFinite(t)) {
        if (options.since !== undefined && t < options.since) continue;
        if (options.until !== undefined && t > options.until) continue;
      }
      yield event;
    }
    options.onProgress?.({ done: total, total, unit: 'ms', events });
  }

  /** Closes the reader if this source opened it. */
  async close(): Promise<void> {
    if (this.owned) await this.reader.close();
  }
}
