import { parseAuditLine, type AuditEvent, type ChainHead } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import { auditKeys, openStreamConnection, type AuditStreamConnection } from './stream-sink';

/** One event read from the audit stream. */
export interface StreamedEvent {
  /**
   * The id of the stream entry holding the event (`<ms>-<n>`, the time Redis stored it). An
   * entry holds one or more events: resume after an entry id only once its last event (see
   * `last`) was handled.
   */
  readonly entryId: string;
  /** The event, or `undefined` when its line (or the entry) does not hold a parseable event. */
  readonly event: AuditEvent | undefined;
  /** The event's JSON as stored, for readers that verify or export it as stored. */
  readonly raw: string;
  /** Position of the event in its entry, from 0. */
  readonly index: number;
  /** True for the last event of its entry. */
  readonly last: boolean;
}

/** Options of {@link AuditStreamReader.range}. */
export interface RangeOptions {
  /** First stream time (epoch ms), inclusive. Default: the oldest entry. */
  readonly since?: number;
  /** Last stream time (epoch ms), inclusive. Default: the newest entry. */
  readonly until?: number;
  /** Entries per XRANGE call (an entry holds up to 100 events). Default: 100. */
  readonly pageSize?: number;
}

/** Options of {@link AuditStreamReader.follow}. */
export interface FollowOptions {
  /** Start after this entry id; `'$'` (default) means only new entries, `'0'` everything. */
  readonly after?: string;
  /**
   * Read as this consumer group (created at the stream's end if missing) and acknowledge each
   * entry after it was yielded, so several readers share the work and a restart resumes.
   */
  readonly group?: { readonly name: string; readonly consumer: string };
  /** How long one blocking read waits, in ms (below `commandTimeoutMs`). Default: 1000. */
  readonly blockMs?: number;
  /** Stops following. */
  readonly signal?: AbortSignal;
  /** Called when a read fails (Redis down); following goes on after a short pause. */
  readonly onError?: (error: Error) => void;
}

/** Stream length and first/last entries. */
export interface StreamInfo {
  /** Number of entries (each holds one or more events). */
  readonly length: number;
  readonly firstEntryId: string | undefined;
  readonly lastEntryId: string | undefined;
}

type Entry = [id: string, fields: string[]];

/** The commands the reader uses, as ioredis `Redis` and `Cluster` both have them. */
interface ReaderClient {
  xrange(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<Entry[]>;
  xlen(key: string): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  xrevrange(key: string, end: string, start: string, count: 'COUNT', n: number): Promise<Entry[]>;
  xread(...args: (string | number)[]): Promise<unknown>;
  xreadgroup(...args: (string | number)[]): Promise<unknown>;
  xack(key: string, group: string, id: string): Promise<unknown>;
  xgroup(...args: string[]): Promise<unknown>;
}

/**
 * Reads the audit stream written by `RedisStreamSink`, one event at a time: a time range (for
 * exports and verification), the chain heads, or a live follow (XREAD, or XREADGROUP with a
 * consumer group). Reads both kinds of entries: several events as JSON lines (field `lines`),
 * and one event each (field `e`, as earlier versions wrote them).
 *
 * @example
 * const reader = new AuditStreamReader({ url: process.env.REDIS_URL });
 * for await (const { event } of reader.follow({ group: { name: 'siem', consumer: 'siem-1' } })) {
 *   forward(event);
 * }
 */
export class AuditStreamReader {
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<ReaderClient>;
  /** The keys read. */
  readonly keys: { stream: string; heads: string };

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: AuditStreamConnection) {
    this.keys = auditKeys(options?.prefix);
    this.#connection = openStreamConnection<ReaderClient>(options, 'AuditStreamReader');
  }

  /** Length and first and last entry ids of the stream. */
  async info(): Promise<StreamInfo> {
    const { stream } = this.keys;
    return this.#connection.run('audit stream info', async (redis) => {
      const length = await redis.xlen(stream);
      const [first] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
      const last = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
      return { length, firstEntryId: first?.[0], lastEntryId: last[0]?.[0] };
    });
  }

  /** The recorded head of every producer's chain. */
  async heads(): Promise<ChainHead[]> {
    const raw = await this.#connection.run('audit heads', (redis) =>
      redis.hgetall(this.keys.heads),
    );
    const heads: ChainHead[] = [];
    for (const [producer, value] of Object.entries(raw)) {
      const [seq, hash, at] = value.split(' ');
      if (seq === undefined || hash === undefined || !/^\d+$/.test(seq)) continue;
      heads.push({
        producer,
        seq: Number(seq),
        hash,
        ...(at !== undefined && /^\d+$/.test(at) ? { at: Number(at) } : {}),
      });
    }
    return heads;
  }

  /** Events whose stream time is within [since, until], oldest first. */
  async *range(options: RangeOptions = {}): AsyncGenerator<StreamedEvent> {
    const pageSize = options.pageSize ?? PAGE_ENTRIES;
    let start = options.since === undefined ? '-' : `${Math.max(0, Math.floor(options.since))}-0`;
    const end =
      options.until === undefined ? '+' : `${Math.floor(options.until)}-18446744073709551615`;
    for (;;) {
      const from = start;
      const page = await this.#connection.run('audit stream range', (redis) =>
        redis.xrange(this.keys.stream, from, end, 'COUNT', pageSize),
      );
      for (const entry of page) yield* eventsOf(entry);
      if (page.length < pageSize) return;
      start = `(${page[page.length - 1]![0]}`;
    }
  }

  /** Follows the stream as it grows, until `signal` aborts. */
  async *follow(options: FollowOptions = {}): AsyncGenerator<StreamedEvent> {
    const blockMs = Math.max(
      1,
      Math.min(options.blockMs ?? 1000, this.#connection.timeoutMs - 100),
    );
    const group = options.group;
    let after = options.after ?? '$';
    if (group !== undefined) await this.ensureGroup(group.name);
    if (after === '$' && group === undefined) {
      // Pin the start, so entries added between two reads are not skipped.
      after = (await this.info()).lastEntryId ?? '0';
    }
    while (!options.signal?.aborted) {
      let reply: unknown;
      const from = after;
      try {
        reply = await this.#connection.run('audit stream follow', (redis) =>
          group === undefined
            ? redis.xread(
                'COUNT',
                PAGE_ENTRIES,
                'BLOCK',
                blockMs,
                'STREAMS',
                this.keys.stream,
                from,
              )
            : redis.xreadgroup(
                'GROUP',
                group.name,
                group.consumer,
                'COUNT',
                PAGE_ENTRIES,
                'BLOCK',
                blockMs,
                'STREAMS',
                this.keys.stream,
                '>',
              ),
        );
      } catch (error) {
        options.onError?.(error as Error);
        await pause(500, options.signal);
        if (group !== undefined) await this.ensureGroup(group.name).catch(() => undefined);
        continue;
      }
      const entries = entriesOf(reply);
      for (const entry of entries) {
        yield* eventsOf(entry);
        // Once every event of the entry was handled: resume after it, acknowledge it.
        after = entry[0];
        if (group !== undefined) {
          const id = entry[0];
          await this.#connection
            .run('audit stream ack', (redis) => redis.xack(this.keys.stream, group.name, id))
            .catch(() => undefined);
        }
      }
    }
  }

  /** Closes the client if this reader opened it. Later calls reject. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }

  /** Creates the consumer group at the stream's end, unless it exists. */
  private async ensureGroup(name: string): Promise<void> {
    await this.#connection.run('audit stream group', (redis) =>
      redis.xgroup('CREATE', this.keys.stream, name, '$', 'MKSTREAM').catch((error: unknown) => {
        // The group exists already: nothing to do.
        if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return undefined;
        throw error;
      }),
    );
  }
}

/** The stream time (epoch ms) of an entry id. */
export function entryTime(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')));
}

/** Entries per read: each holds up to 100 events of at most about 64 KiB of JSON. */
const PAGE_ENTRIES = 100;

/** The events of one entry: JSON lines (field `lines`), or one event (field `e`). */
function eventsOf([entryId, fields]: Entry): StreamedEvent[] {
  let lines: string | undefined;
  let single: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'lines') lines = fields[i + 1];
    else if (fields[i] === 'e') single = fields[i + 1];
  }
  if (lines === undefined) return [streamed(entryId, single ?? '', 0, true)];
  const raws = lines.split('\n');
  return raws.map((raw, index) => streamed(entryId, raw, index, index === raws.length - 1));
}

function streamed(entryId: string, raw: string, index: number, last: boolean): StreamedEvent {
  let event: AuditEvent | undefined;
  try {
    event = raw === '' ? undefined : parseAuditLine(raw);
  } catch {
    event = undefined;
  }
  return { entryId, event, raw, index, last };
}

/** The entries of an XREAD / XREADGROUP reply for one stream (RESP2 or RESP3 shape). */
function entriesOf(reply: unknown): Entry[] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    const first = reply[0] as unknown;
    if (Array.isArray(first) && Array.isArray(first[1])) return first[1] as Entry[];
    // A RESP3 map flattened to [key, entries].
    if (typeof first === 'string' && Array.isArray(reply[1])) return reply[1] as Entry[];
    return [];
  }
  if (typeof reply === 'object') {
    const [entries] = Object.values(reply as Record<string, unknown>);
    return Array.isArray(entries) ? (entries as Entry[]) : [];
  }
  return [];
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
