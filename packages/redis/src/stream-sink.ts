import {
  auditLine,
  ConfigError,
  systemClock,
  type AuditEvent,
  type AuditSink,
  type Clock,
} from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { openClient, unavailable } from './client';
import { DEFAULT_PREFIX, KeySpace } from './keys';

/** Default retention of the audit stream: 90 days, in ms. */
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;

/** Default deadline of one stream write, in ms. */
const DEFAULT_STREAM_TIMEOUT_MS = 2_000;

/** Name of the append script command defined on the client. */
const APPEND_COMMAND = 'tokenwardenAuditAppendPacked';

/** Most events in one stream entry. */
export const MAX_EVENTS_PER_ENTRY = 100;

/**
 * A stream entry takes no more events once its JSON lines reach this many characters (an entry
 * holds at least one event, however long): keeps each entry, and each page a reader fetches, of
 * a bounded size.
 */
export const MAX_ENTRY_CHARS = 64 * 1024;

/**
 * Appends one producer's events, skipping those already stored, records the producer's head and
 * trims entries older than the retention. Atomic, so the head always matches the stream.
 *
 * The events come in packs of consecutive sequence numbers: each pack becomes one stream entry,
 * fields `lines` (the events' JSON, one per line: JSON escapes line breaks inside strings) and
 * `n` (the number of events). A pack at or below the producer's recorded head was stored by an
 * earlier write (a spool replay) and is skipped; a pack that overlaps it loses the lines up to the
 * head.
 *
 * KEYS[1] stream, KEYS[2] heads hash
 * ARGV[1] producer, ARGV[2] MINID for trimming ('' for none), ARGV[3] head value of the last
 * event ("<seq> <hash> <epoch ms>"), then per pack: first seq, last seq, JSON lines.
 * Returns the number of events added.
 */
const APPEND_LUA = `
local head = redis.call('HGET', KEYS[2], ARGV[1])
local top = 0
if head then top = tonumber(string.match(head, '^(%d+)')) or 0 end
local added = 0
for i = 4, #ARGV - 2, 3 do
  local first = tonumber(ARGV[i])
  local last = tonumber(ARGV[i + 1])
  local lines = ARGV[i + 2]
  if last > top then
    if first <= top then
      local at = 0
      for _ = first, top do at = string.find(lines, '\\n', at + 1, true) end
      lines = string.sub(lines, at + 1)
      first = top + 1
    end
    redis.call('XADD', KEYS[1], '*', 'lines', lines, 'n', tostring(last - first + 1))
    added = added + last - first + 1
    top = last
  end
end
if added > 0 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
if ARGV[2] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2]) end
return added
`;

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
}

/** The stream and heads keys for a prefix. */
export function auditKeys(prefix: string = DEFAULT_PREFIX): { stream: string; heads: string } {
  const base = new KeySpace(prefix).base;
  return { stream: `${base}audit:stream`, heads: `${base}audit:heads` };
}

type AppendClient = {
  [APPEND_COMMAND](...args: string[]): Promise<unknown>;
  defineCommand(name: string, definition: { lua: string; numberOfKeys: number }): void;
  pipeline(): {
    [APPEND_COMMAND](...args: string[]): unknown;
    exec(): Promise<[Error | null, unknown][] | null>;
  };
  quit(): Promise<unknown>;
  disconnect(): void;
};

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
 * and trims entries past the retention.
 *
 * @example
 * import { RedisStreamSink } from '@tokenwarden/redis';
 * audit: { sinks: [new RedisStreamSink({ url: process.env.REDIS_URL, retentionMs: 30 * 86_400_000 })] }
 */
export class RedisStreamSink implements AuditSink {
  readonly name: string;
  readonly #client: AppendClient;
  readonly #raw: Redis | Cluster;
  private readonly owned: boolean;
  private readonly timeoutMs: number;
  private readonly keys: { stream: string; heads: string };
  private readonly retentionMs: number;
  private readonly clock: Clock;
  private closing: Promise<void> | undefined;

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
    // Last: a client is opened only for valid options.
    const { client, owned, timeoutMs } = connect(options, 'RedisStreamSink');
    this.#client = client as unknown as AppendClient;
    this.#raw = client;
    this.owned = owned;
    this.timeoutMs = timeoutMs;
    this.name = options.name ?? 'redis-stream';
    this.#client.defineCommand(APPEND_COMMAND, { lua: APPEND_LUA, numberOfKeys: 2 });
  }

  async write(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.closing) throw new Error('RedisStreamSink is closed');
    const minId =
      this.retentionMs === 0 ? '' : String(Math.max(0, this.clock.now() - this.retentionMs));
    const now = String(this.clock.now());
    const calls: string[][] = [];
    // One call per run of one producer's events; in it, one pack per entry.
    let call: string[] | undefined;
    let producer: string | undefined;
    let first = 0;
    let last = 0;
    let count = 0;
    let chars = 0;
    const lines: string[] = [];
    let previous: AuditEvent | undefined;
    const pack = () => {
      if (count === 0) return;
      // One join per entry: a single flat string, rather than a rope of concatenations.
      call!.push(String(first), String(last), lines.join('\n'));
      count = 0;
      chars = 0;
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
        call = [this.keys.stream, this.keys.heads, producer, minId, ''];
      } else if (seq !== last + 1 || count >= MAX_EVENTS_PER_ENTRY || chars >= MAX_ENTRY_CHARS) {
        pack();
      }
      const line = auditLine(event);
      if (count === 0) first = seq;
      lines.push(line);
      chars += line.length + 1;
      last = seq;
      count += 1;
      previous = event;
    }
    finish();
    try {
      await whenReady(this.#raw, this.timeoutMs);
      if (calls.length === 1) {
        await this.#client[APPEND_COMMAND](...calls[0]!);
        return;
      }
      const pipeline = this.#client.pipeline();
      for (const c of calls) pipeline[APPEND_COMMAND](...c);
      const results = await pipeline.exec();
      for (const [error] of results ?? []) if (error) throw error;
    } catch (error) {
      throw unavailable('audit stream write', error);
    }
  }

  /** Closes the client if this sink opened it. */
  close(): Promise<void> {
    this.closing ??= this.owned
      ? this.#client.quit().then(
          () => undefined,
          () => this.#client.disconnect(),
        )
      : Promise.resolve();
    return this.closing;
  }
}

/** First connection only: while reconnecting, writes fail at once so events go to the spool. */
const CONNECTING = new Set(['connecting', 'connect', 'wait']);

/**
 * Resolves once a client that is connecting for the first time is ready, or after `timeoutMs`
 * (the command then fails fast): a client without an offline queue refuses commands until then.
 * @internal
 */
export function whenReady(client: Redis | Cluster, timeoutMs: number): Promise<void> | undefined {
  if (!CONNECTING.has(client.status)) return undefined;
  if (client.status === 'wait') void client.connect().catch(() => undefined);
  return new Promise<void>((resolve) => {
    // Ready, or the first attempt failed (refused, unknown host): either way, go on.
    const done = () => {
      clearTimeout(timer);
      client.removeListener('ready', done);
      client.removeListener('error', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
    client.once('error', done);
  });
}

/** Opens or adopts the client of a sink or reader. @internal */
export function connect(
  options: AuditStreamConnection,
  what: string,
): { client: Redis | Cluster; owned: boolean; timeoutMs: number } {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`${what} needs an options object with 'url' or 'client'`);
  }
  const { url, client } = options;
  if ((url === undefined) === (client === undefined)) {
    throw new ConfigError(
      `${what} needs exactly one of 'url' (a redis:// or rediss:// URL) and 'client' (an ioredis Redis or Cluster)`,
    );
  }
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 60_000) {
    throw new ConfigError(`${what} option 'commandTimeoutMs' must be an integer from 1 to 60000`);
  }
  if (client !== undefined) {
    if (typeof (client as { defineCommand?: unknown }).defineCommand !== 'function') {
      throw new ConfigError(`${what} option 'client' must be an ioredis Redis or Cluster`);
    }
    return { client, owned: false, timeoutMs };
  }
  return {
    client: openClient(url, timeoutMs, () => undefined, `${what} option 'url'`),
    owned: true,
    timeoutMs,
  };
}
