import { parseAuditLine, type AuditEvent, type ChainHead } from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';
import { DEFAULT_PREFIX } from './defaults';
import {
  auditKeys,
  auditRegistryKey,
  openStreamConnection,
  producerAuditKeys,
  type AuditStreamConnection,
} from './stream-sink';

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
  smembers(key: string): Promise<string[]>;
}

type StreamKeys = { readonly stream: string; readonly heads: string };

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
  /** The keys of the one stream every producer writes with `streams: 'single'`. */
  readonly keys: { stream: string; heads: string };
  private readonly prefix: string;
  private readonly registry: string;

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: AuditStreamConnection) {
    this.keys = auditKeys(options?.prefix);
    this.prefix = options?.prefix ?? DEFAULT_PREFIX;
    this.registry = auditRegistryKey(options?.prefix);
    this.#connection = openStreamConnection<ReaderClient>(options, 'AuditStreamReader');
  }

  /**
   * Every stream to read: the one of `streams: 'single'`, then each producer's own stream listed
   * in the registry (`streams: 'per-producer'`), each with its heads hash.
   */
  async streams(): Promise<StreamKeys[]> {
    // A prefix with its own tag has no per-producer streams (the sink refuses them).
    if (this.prefix.includes('{')) return [this.keys];
    const tags = await this.#connection.run('audit streams', (redis) =>
      redis.smembers(this.registry),
    );
    return [this.keys, ...tags.sort().map((tag) => producerAuditKeys(this.prefix, tag))];
  }

  /** Length and first and last entry ids over every stream. */
  async info(): Promise<StreamInfo> {
    const streams = await this.streams();
    const infos = await Promise.all(
      streams.map(({ stream }) =>
        this.#connection.run('audit stream info', async (redis) => {
          const length = await redis.xlen(stream);
          const [first] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
          const last = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
          return { length, first: first?.[0], last: last[0]?.[0] };
        }),
      ),
    );
    let firstEntryId: string | undefined;
    let lastEntryId: string | undefined;
    for (const { first, last } of infos) {
      if (
        first !== undefined &&
        (firstEntryId === undefined || compareIds(first, firstEntryId) < 0)
      ) {
        firstEntryId = first;
      }
      if (last !== undefined && (lastEntryId === undefined || compareIds(last, lastEntryId) > 0)) {
        lastEntryId = last;
      }
    }
    return { length: infos.reduce((sum, i) => sum + i.length, 0), firstEntryId, lastEntryId };
  }

  /** The recorded head of every producer's chain (the furthest one, when two streams hold it). */
  async heads(): Promise<ChainHead[]> {
    const streams = await this.streams();
    const raws = await Promise.all(
      streams.map(({ heads }) =>
        this.#connection.run('audit heads', (redis) => redis.hgetall(heads)),
      ),
    );
    const byProducer = new Map<string, ChainHead>();
    for (const raw of raws) {
      for (const [producer, value] of Object.entries(raw)) {
        const [seq, hash, at] = value.split(' ');
        if (seq === undefined || hash === undefined || !/^\d+$/.test(seq)) continue;
        const head: ChainHead = {
          producer,
          seq: Number(seq),
          hash,
          ...(at !== undefined && /^\d+$/.test(at) ? { at: Number(at) } : {}),
        };
        const known = byProducer.get(producer);
        if (known === undefined || known.seq < head.seq) byProducer.set(producer, head);
      }
    }
    return [...byProducer.values()];
  }

  /**
   * Events whose stream time is within [since, until], oldest first: the entries of every stream
   * merged by entry id (each stream read a page at a time).
   */
  async *range(options: RangeOptions = {}): AsyncGenerator<StreamedEvent> {
    const pageSize = options.pageSize ?? PAGE_ENTRIES;
    const since = options.since === undefined ? '-' : `${Math.max(0, Math.floor(options.since))}-0`;
    const end =
      options.until === undefined ? '+' : `${Math.floor(options.until)}-18446744073709551615`;
    const cursors = (await this.streams()).map(({ stream }) => ({
      stream,
      start: since,
      page: [] as Entry[],
      done: false,
    }));
    for (;;) {
      await Promise.all(
        cursors
          .filter((c) => c.page.length === 0 && !c.done)
          .map(async (c) => {
            const from = c.start;
            const page = await this.#connection.run('audit stream range', (redis) =>
              redis.xrange(c.stream, from, end, 'COUNT', pageSize),
            );
            c.page = page;
            if (page.length < pageSize) c.done = true;
            if (page.length > 0) c.start = `(${page[page.length - 1]![0]}`;
          }),
      );
      let next: (typeof cursors)[number] | undefined;
      for (const c of cursors) {
        const head = c.page[0];
        if (
          head !== undefined &&
          (next === undefined || compareIds(head[0], next.page[0]![0]) < 0)
        ) {
          next = c;
        }
      }
      if (next === undefined) return;
      yield* eventsOf(next.page.shift()!);
    }
  }

  /**
   * Follows every stream as it grows, until `signal` aborts. One stream is read with a blocking
   * read; several (`streams: 'per-producer'`) each with a read of its own (one slot each), with a
   * short pause when none had news. Streams registered while following are read from their start.
   */
  async *follow(options: FollowOptions = {}): AsyncGenerator<StreamedEvent> {
    const blockMs = Math.max(
      1,
      Math.min(options.blockMs ?? 1000, this.#connection.timeoutMs - 100),
    );
    const group = options.group;
    const start = options.after ?? '$';
    /** Each stream followed, and the entry id to read after. */
    const cursors = new Map<string, string>();
    const discover = async (first: boolean) => {
      for (const { stream } of await this.streams()) {
        if (cursors.has(stream)) continue;
        // A stream that appears while following is new: all of it is to be read.
        const from = first ? start : '0';
        if (group !== undefined) await this.ensureGroup(stream, group.name, from);
        let after = from;
        if (after === '$' && group === undefined) {
          // Pin the start, so entries added between two reads are not skipped.
          const [last] = await this.#connection.run('audit stream follow', (redis) =>
            redis.xrevrange(stream, '+', '-', 'COUNT', 1),
          );
          after = last?.[0] ?? '0';
        }
        cursors.set(stream, after);
      }
    };
    await discover(true);
    while (!options.signal?.aborted) {
      let batches: [string, Entry[]][];
      try {
        await discover(false);
        const block = cursors.size === 1 ? blockMs : undefined;
        batches = await Promise.all(
          [...cursors].map(async ([stream, after]) => {
            const reply = await this.#connection.run('audit stream follow', (redis) =>
              group === undefined
                ? redis.xread(
                    'COUNT',
                    PAGE_ENTRIES,
                    ...(block === undefined ? [] : ['BLOCK', block]),
                    'STREAMS',
                    stream,
                    after,
                  )
                : redis.xreadgroup(
                    'GROUP',
                    group.name,
                    group.consumer,
                    'COUNT',
                    PAGE_ENTRIES,
                    ...(block === undefined ? [] : ['BLOCK', block]),
                    'STREAMS',
                    stream,
                    '>',
                  ),
            );
            return [stream, entriesOf(reply)] as [string, Entry[]];
          }),
        );
      } catch (error) {
        options.onError?.(error as Error);
        await pause(500, options.signal);
        if (group !== undefined) {
          for (const stream of cursors.keys()) {
            await this.ensureGroup(stream, group.name, '$').catch(() => undefined);
          }
        }
        continue;
      }
      let read = 0;
      for (const [stream, entries] of batches) {
        for (const entry of entries) {
          read += 1;
          yield* eventsOf(entry);
          // Once every event of the entry was handled: resume after it, acknowledge it.
          cursors.set(stream, entry[0]);
          if (group !== undefined) {
            const id = entry[0];
            await this.#connection
              .run('audit stream ack', (redis) => redis.xack(stream, group.name, id))
              .catch(() => undefined);
          }
        }
      }
      if (read === 0 && cursors.size > 1) await pause(Math.min(blockMs, 250), options.signal);
    }
  }

  /** Closes the client if this reader opened it. Later calls reject. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }

  /** Creates the consumer group on `stream` at `from` (`'$'`: its end), unless it exists. */
  private async ensureGroup(stream: string, name: string, from: string): Promise<void> {
    await this.#connection.run('audit stream group', (redis) =>
      redis.xgroup('CREATE', stream, name, from, 'MKSTREAM').catch((error: unknown) => {
        // The group exists already: nothing to do.
        if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return undefined;
        throw error;
      }),
    );
  }
}

/** Orders two stream entry ids (`<ms>-<n>`). */
function compareIds(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('-').map(Number);
  const [bm = 0, bn = 0] = b.split('-').map(Number);
  return am - bm || an - bn;
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
