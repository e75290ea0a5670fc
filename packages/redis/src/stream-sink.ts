import {
  auditLine,
  ConfigError,
  systemClock,
  type AuditEvent,
  type AuditSink,
  type Clock,
} from '@tokenwarden/core/internal';
import type { Cluster, Redis } from 'ioredis';
import { connectionTarget, RedisConnection } from './connection';
import { DEFAULT_AUDIT_RETENTION_MS, DEFAULT_PREFIX, DEFAULT_STREAM_TIMEOUT_MS } from './defaults';
import { createHash } from 'node:crypto';
import { encodeId, KeySpace } from './keys';
import { AUDIT_APPEND_SCRIPT, COMMANDS, type ScriptCalls } from './scripts';

/** Most events in one stream entry. */
export const MAX_EVENTS_PER_ENTRY = 100;

/**
 * A stream entry takes no more events once its JSON lines reach this many characters (an entry
 * holds at least one event, however long): keeps each entry, and each page a reader fetches, of
 * a bounded size.
 */
export const MAX_ENTRY_CHARS = 64 * 1024;

/** Options shared by the stream sink and reader. Pass exactly one of `url` and `client`. */
export interface AuditStreamConnection {
  /** A `redis://` or `rediss://` URL; a fail-fast client is opened and closed by this object. */
  readonly url?: string;
  /** An ioredis `Redis` or `Cluster` you own; never closed here. */
  readonly client?: Redis | Cluster;
  /**
   * Key prefix, as for `RedisStore` (the `{tw}` hash tag is added unless the prefix has one).
   * The stream is `<base>audit:stream`, the chain heads `<base>audit:heads`. Default:
   * `'tokenwarden:'`.
   */
  readonly prefix?: string;
  /** Deadline of one command, in ms. Default: 2000. */
  readonly commandTimeoutMs?: number;
}

/** Options of {@link RedisStreamSink}. */
export interface RedisStreamSinkOptions extends AuditStreamConnection {
  /**
   * Entries older than this many ms are trimmed (XTRIM MINID) at every write: GDPR storage
   * limitation. Default: 90 days. `0` keeps everything.
   */
  readonly retentionMs?: number;
  /** Time source of the retention cut-off. Default: the system clock. */
  readonly clock?: Clock;
  /** Spool name (see `AuditSink.name`). Default: `'redis-stream'`. */
  readonly name?: string;
  /**
   * `'single'`: every producer's events go to one stream, `<prefix>{tw}:audit:stream`, on one
   * slot. `'per-producer'`: each producer (each process's audit trail) writes a stream of its own
   * under a hash tag of its own (see {@link producerAuditKeys}), registered in
   * `<prefix>{tw}:audit:producers`, so on Redis Cluster the writes of many nodes spread over the
   * masters. `AuditStreamReader` (and `tokenwarden audit`, the reports, `state restore`) reads
   * both. Needs a prefix without a hash tag. Default: `'single'`.
   */
  readonly streams?: 'single' | 'per-producer';
}

/** The stream and heads keys for a prefix (the one stream of every producer, under `{tw}`). */
export function auditKeys(prefix: string = DEFAULT_PREFIX): { stream: string; heads: string } {
  const base = new KeySpace(prefix).base;
  return { stream: `${base}audit:stream`, heads: `${base}audit:heads` };
}

/**
 * The registry of per-producer streams: a set, under `{tw}`, of the tags of the producers that
 * wrote a stream of their own (see {@link producerAuditKeys}).
 */
export function auditRegistryKey(prefix: string = DEFAULT_PREFIX): string {
  return `${new KeySpace(prefix).base}audit:producers`;
}

/**
 * The tag of one producer's stream: its encoded id, or `#` and the SHA-256 of it when longer than
 * 64 characters.
 */
export function producerTag(producer: string): string {
  const encoded = encodeId(producer);
  return encoded.length <= 64 ? encoded : `#${createHash('sha256').update(encoded).digest('hex')}`;
}

/**
 * The stream and heads keys of one producer (`streams: 'per-producer'`), under a hash tag of its
 * own: `<prefix>{tw.audit.<tag>}:audit:stream` and `…:audit:heads`. `tag` is {@link producerTag}.
 */
export function producerAuditKeys(prefix: string, tag: string): { stream: string; heads: string } {
  const base = `${prefix}{tw.audit.${tag}}:`;
  return { stream: `${base}audit:stream`, heads: `${base}audit:heads` };
}

/** An argument of the append script: names and numbers as strings, an entry's lines as bytes. */
type Arg = string | Buffer;

/** The append script command, on the client and on a pipeline. */
type AppendCall = typeof COMMANDS.auditAppend;
type AppendClient = ScriptCalls<AppendCall> & {
  sadd(key: string, ...members: string[]): Promise<unknown>;
  pipeline(): Record<AppendCall, (...args: Arg[]) => unknown> & {
    exec(): Promise<[Error | null, unknown][] | null>;
  };
};

/**
 * Checks the connection options of a sink or reader and opens (or adopts) its connection. A call
 * waits for the first connection only: while Redis is away, a write fails at once and its events
 * go to the spool instead of holding up the queue. Default deadline: 2000 ms.
 *
 * @internal
 */
export function openStreamConnection<View>(
  options: AuditStreamConnection,
  owner: string,
): RedisConnection<View> {
  const target = connectionTarget(options, {
    owner,
    defaultTimeoutMs: DEFAULT_STREAM_TIMEOUT_MS,
    waitFor: 'first',
  });
  return new RedisConnection<View>(target);
}

/**
 * Audit sink writing to a Redis stream, many events per entry: each entry holds up to
 * {@link MAX_EVENTS_PER_ENTRY} consecutive events of one producer as JSON lines (field `lines`,
 * one event per line, exactly as the trail sealed it; field `n`, how many), so the stream costs
 * Redis one XADD per pack instead of one per event. {@link AuditStreamReader} (and `tokenwarden
 * audit tail`, `export`, `verify`) yields the events one at a time, from these entries and from
 * the one-event entries (field `e`) that earlier versions wrote; consumer groups (XREADGROUP) can
 * follow the stream in real time. A batch is one pipelined script call per producer in it: the
 * script skips events at or below the producer's recorded head, so a spool replay never stores a
 * duplicate, records the new head in `<base>audit:heads` (for `audit verify` to catch a cut tail)
 * and trims entries past the retention. The heads sit in the same Redis as the stream, so whoever
 * can write it can move a head back along with the tail: give the trail signed checkpoints
 * (`audit.checkpoints`, written elsewhere) and `audit verify --checkpoints` catches that too.
 *
 * @example
 * import { RedisStreamSink } from '@tokenwarden/redis';
 * audit: { sinks: [new RedisStreamSink({ url: process.env.REDIS_URL, retentionMs: 30 * 86_400_000 })] }
 */
export class RedisStreamSink implements AuditSink {
  readonly name: string;
  // ES private: `util.inspect` must not print the client, whose options hold the URL.
  readonly #connection: RedisConnection<AppendClient>;
  private readonly keys: { stream: string; heads: string };
  private readonly retentionMs: number;
  private readonly clock: Clock;
  /** The prefix of per-producer streams, `undefined` with `streams: 'single'`. */
  private readonly producerPrefix: string | undefined;
  private readonly registry: string;
  /** Producers this sink registered already. */
  private readonly registered = new Set<string>();

  /** @throws ConfigError when the options are missing, ambiguous or out of range. */
  constructor(options: RedisStreamSinkOptions) {
    this.retentionMs = options?.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
    if (!Number.isSafeInteger(this.retentionMs) || this.retentionMs < 0) {
      throw new ConfigError(
        `RedisStreamSink option 'retentionMs' must be a whole number of ms (0 keeps everything)`,
      );
    }
    this.clock = options?.clock ?? systemClock;
    this.keys = auditKeys(options?.prefix);
    this.registry = auditRegistryKey(options?.prefix);
    const streams = options?.streams ?? 'single';
    if (streams !== 'single' && streams !== 'per-producer') {
      throw new ConfigError(`RedisStreamSink option 'streams' must be 'single' or 'per-producer'`);
    }
    const prefix = options?.prefix ?? DEFAULT_PREFIX;
    if (streams === 'per-producer' && (prefix.includes('{') || prefix.includes('}'))) {
      throw new ConfigError(
        `RedisStreamSink option 'prefix' must not contain a hash tag with streams 'per-producer': each producer's stream gets a tag of its own`,
      );
    }
    this.producerPrefix = streams === 'per-producer' ? prefix : undefined;
    // Last: a client is opened only for valid options.
    this.#connection = openStreamConnection<AppendClient>(options, 'RedisStreamSink');
    this.name = options.name ?? 'redis-stream';
    this.#connection.define([AUDIT_APPEND_SCRIPT]);
  }

  async write(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.#connection.closed) throw new Error('RedisStreamSink is closed');
    const minId =
      this.retentionMs === 0 ? '' : String(Math.max(0, this.clock.now() - this.retentionMs));
    const now = String(this.clock.now());
    const calls: Arg[][] = [];
    // One call per run of one producer's events; in it, one pack per entry.
    let call: Arg[] | undefined;
    let producer: string | undefined;
    let first = 0;
    let last = 0;
    let count = 0;
    let chars = 0;
    let bytes = 0;
    const lines: string[] = [];
    let previous: AuditEvent | undefined;
    const pack = () => {
      if (count === 0) return;
      // Each entry's lines go out as one Buffer, written line by line: its bytes live outside the
      // JavaScript heap while the write waits for Redis (a joined string would, and be promoted
      // by every young collection it outlives), and the client sends it as it is, without a copy.
      const entry = Buffer.allocUnsafe(bytes - 1);
      let offset = 0;
      for (let i = 0; i < lines.length; i++) {
        if (i > 0) offset = entry.writeUInt8(0x0a, offset);
        offset += entry.write(lines[i]!, offset, 'utf8');
      }
      call!.push(String(first), String(last), entry);
      count = 0;
      chars = 0;
      bytes = 0;
      lines.length = 0;
    };
    const finish = () => {
      pack();
      if (call === undefined || previous === undefined) return;
      call[4] = `${previous.seq} ${previous.hash ?? ''} ${now}`;
      calls.push(call);
    };
    for (const event of events) {
      const seq = event.seq;
      if (event.producer === undefined || seq === undefined) {
        throw new TypeError('RedisStreamSink stores chained events only (producer and seq)');
      }
      if (event.producer !== producer) {
        finish();
        producer = event.producer;
        const keys =
          this.producerPrefix === undefined
            ? this.keys
            : producerAuditKeys(this.producerPrefix, producerTag(producer));
        call = [keys.stream, keys.heads, producer, minId, ''];
      } else if (seq !== last + 1 || count >= MAX_EVENTS_PER_ENTRY || chars >= MAX_ENTRY_CHARS) {
        pack();
      }
      const line = auditLine(event);
      if (count === 0) first = seq;
      lines.push(line);
      chars += line.length + 1;
      bytes += Buffer.byteLength(line, 'utf8') + 1;
      last = seq;
      count += 1;
      previous = event;
    }
    finish();
    if (this.producerPrefix !== undefined) {
      await this.writeApart(calls);
      return;
    }
    await this.#connection.run('audit stream write', async (redis) => {
      if (calls.length === 1) {
        await redis[COMMANDS.auditAppend](...calls[0]!);
        return;
      }
      const pipeline = redis.pipeline();
      for (const c of calls) pipeline[COMMANDS.auditAppend](...c);
      const results = await pipeline.exec();
      for (const [error] of results ?? []) if (error) throw error;
    });
  }

  /**
   * `streams: 'per-producer'`: registers each new producer's tag first (so a reader that finds
   * its entries also finds its stream), then one script call per producer, each on its own slot.
   */
  private async writeApart(calls: readonly Arg[][]): Promise<void> {
    const fresh = [...new Set(calls.map((c) => c[2] as string))].filter(
      (p) => !this.registered.has(p),
    );
    if (fresh.length > 0) {
      const tags = fresh.map(producerTag);
      await this.#connection.run('audit stream register', (redis) =>
        redis.sadd(this.registry, ...tags),
      );
      for (const producer of fresh) this.registered.add(producer);
    }
    await Promise.all(
      calls.map((c) =>
        this.#connection.run('audit stream write', (redis) => redis[COMMANDS.auditAppend](...c)),
      ),
    );
  }

  /** Closes the client if this sink opened it. Idempotent. */
  close(): Promise<void> {
    return this.#connection.close();
  }
}
