import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AuditEvent, AuditSink } from './types';

/** Options of {@link JsonLinesSink}. */
export interface JsonLinesSinkOptions {
  /** File to append to. Default: standard output. */
  readonly file?: string;
  /** A stream to write to instead (ignored when `file` is set). */
  readonly stream?: Writable;
}

/**
 * Writes one JSON object per line, to stdout or a file.
 *
 * @example
 * audit: { sinks: [new JsonLinesSink({ file: '/var/log/tokenwarden/audit.jsonl' })] }
 */
export class JsonLinesSink implements AuditSink {
  private readonly stream: Writable;
  private readonly owned: WriteStream | undefined;

  constructor(options: JsonLinesSinkOptions = {}) {
    this.owned = options.file ? createWriteStream(options.file, { flags: 'a' }) : undefined;
    this.stream = this.owned ?? options.stream ?? process.stdout;
  }

  write(events: readonly AuditEvent[]): Promise<void> {
    let text = '';
    for (const event of events) text += JSON.stringify(event) + '\n';
    return new Promise((resolve, reject) => {
      this.stream.write(text, (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    const owned = this.owned;
    if (owned && !owned.closed) await new Promise<void>((resolve) => owned.end(resolve));
  }
}

/** Keeps events in memory, for tests and the demo. Bounded: the oldest are dropped past `max`. */
export class MemorySink implements AuditSink {
  /** The events received, oldest first. */
  readonly events: AuditEvent[] = [];

  constructor(private readonly max = 10_000) {}

  async write(events: readonly AuditEvent[]): Promise<void> {
    this.events.push(...events);
    if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max);
  }

  /** Forgets every event. */
  clear(): void {
    this.events.length = 0;
  }
}
