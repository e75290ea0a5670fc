import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { auditLine, SeqFilter } from './line';
import type { AuditEvent, AuditSink } from './types';

/** Options of {@link JsonLinesSink}. */
export interface JsonLinesSinkOptions {
  /** File to append to. Default: standard output. */
  readonly file?: string;
  /** A stream to write to instead (ignored when `file` is set). */
  readonly stream?: Writable;
  /**
   * Rotate the file once it reaches this many bytes: `audit.jsonl` becomes `audit.jsonl.1`, the
   * older ones shift up. Default: no rotation.
   */
  readonly maxBytes?: number;
  /** Rotated files to keep (`.1` … `.N`); older ones are deleted. Default: 10. */
  readonly maxFiles?: number;
  /**
   * Delete rotated files whose last event is older than this many ms (GDPR storage limitation).
   * Checked at each rotation and at start. Default: keep them (only `maxFiles` applies).
   */
  readonly retentionMs?: number;
  /** Name for the spool (see `AuditSink.name`). Default: `jsonl`. */
  readonly name?: string;
  /** Time source for retention. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * Writes one JSON object per line, to stdout or a file, with size-based rotation and retention.
 * A replayed event (same producer, seq not above the last written) is skipped, so a spool replay
 * within one process never writes a line twice.
 *
 * @example
 * audit: { sinks: [new JsonLinesSink({ file: '/var/log/tokenwarden/audit.jsonl', maxBytes: 100e6 })] }
 */
export class JsonLinesSink implements AuditSink {
  readonly name: string;
  private stream: Writable;
  private owned: WriteStream | undefined;
  private size = 0;
  private sized: Promise<void> | undefined;
  private readonly seen = new SeqFilter();
  private readonly file: string | undefined;
  private readonly maxBytes: number | undefined;
  private readonly maxFiles: number;
  private readonly retentionMs: number | undefined;
  private readonly clock: Clock;

  constructor(options: JsonLinesSinkOptions = {}) {
    this.file = options.file;
    this.name = options.name ?? 'jsonl';
    this.maxBytes = optionalPositive(options.maxBytes, 'JsonLinesSink option maxBytes');
    this.maxFiles = optionalPositive(options.maxFiles, 'JsonLinesSink option maxFiles') ?? 10;
    this.retentionMs = optionalPositive(options.retentionMs, 'JsonLinesSink option retentionMs');
    this.clock = options.clock ?? systemClock;
    this.owned = this.file ? this.openFile(this.file) : undefined;
    this.stream = this.owned ?? options.stream ?? process.stdout;
    if (this.file && (this.maxBytes !== undefined || this.retentionMs !== undefined)) {
      const file = this.file;
      this.sized = stat(file).then(
        (s) => {
          this.size = s.size;
        },
        () => {
          this.size = 0;
        },
      );
      this.sized = this.sized.then(() => this.prune(file));
    }
  }

  async write(events: readonly AuditEvent[]): Promise<void> {
    if (this.sized) await this.sized;
    const fresh = this.seen.fresh(events);
    if (fresh.length === 0) return;
    let text = '';
    for (const event of fresh) text += auditLine(event) + '\n';
    const bytes = Buffer.byteLength(text);
    if (
      this.file &&
      this.maxBytes !== undefined &&
      this.size > 0 &&
      this.size + bytes > this.maxBytes
    ) {
      await this.rotate(this.file);
    }
    const stream = this.stream;
    const file = this.owned !== undefined;
    await new Promise<void>((resolve, reject) => {
      const accepted = stream.write(text, (error) => (error ? reject(error) : resolve()));
      // A file is written when its callback says so. Standard output (or a stream passed in) has
      // taken the lines once write() accepts them without backpressure and reports no error by
      // the next turn of the event loop; its callback may come late or, where a test runner
      // replaces the stream, never.
      if (accepted && !file) setImmediate(resolve);
    });
    this.size += bytes;
    this.seen.commit(fresh);
  }

  async close(): Promise<void> {
    const owned = this.owned;
    if (owned && !owned.closed) await new Promise<void>((resolve) => owned.end(resolve));
  }

  private openFile(file: string): WriteStream {
    const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    // Errors surface through write callbacks; keep them from becoming uncaught events.
    stream.on('error', () => undefined);
    return stream;
  }

  /** `file` → `file.1`, `file.1` → `file.2`, …; the oldest beyond `maxFiles` is deleted. */
  private async rotate(file: string): Promise<void> {
    const old = this.owned;
    if (old && !old.closed) await new Promise<void>((resolve) => old.end(resolve));
    for (let n = this.maxFiles; n >= 1; n--) {
      const from = n === 1 ? file : `${file}.${n - 1}`;
      const to = `${file}.${n}`;
      try {
        if (n === this.maxFiles) await unlink(to).catch(() => undefined);
        await rename(from, to);
      } catch {
        // a missing file in the sequence is fine
      }
    }
    this.owned = this.openFile(file);
    this.stream = this.owned;
    this.size = 0;
    await this.prune(file);
  }

  /** Deletes rotated files past `maxFiles` or older than `retentionMs`. */
  private async prune(file: string): Promise<void> {
    const dir = dirname(file);
    const base = basename(file);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    const cutoff = this.retentionMs === undefined ? undefined : this.clock.now() - this.retentionMs;
    for (const name of names) {
      const m = name.startsWith(base + '.') ? /^\d+$/.exec(name.slice(base.length + 1)) : null;
      if (!m) continue;
      const n = Number(m[0]);
      const path = join(dir, name);
      let remove = n > this.maxFiles;
      if (!remove && cutoff !== undefined) {
        const s = await stat(path).catch(() => undefined);
        remove = s !== undefined && s.mtimeMs < cutoff;
      }
      if (remove) await unlink(path).catch(() => undefined);
    }
  }
}

/**
 * Keeps events in memory, for tests and the demo. Bounded: the oldest are dropped past `max`.
 * A replayed event (same producer, seq not above the last kept) is skipped.
 */
export class MemorySink implements AuditSink {
  /** The events received, oldest first. */
  readonly events: AuditEvent[] = [];
  private readonly seen = new SeqFilter();

  constructor(
    private readonly max = 10_000,
    /** Name for the spool (see `AuditSink.name`). */
    readonly name?: string,
  ) {}

  async write(events: readonly AuditEvent[]): Promise<void> {
    const fresh = this.seen.fresh(events);
    this.seen.commit(fresh);
    this.events.push(...fresh);
    if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max);
  }

  /** Forgets every event. */
  clear(): void {
    this.events.length = 0;
  }
}

function optionalPositive(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive whole number`);
  }
  return value;
}
