import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { AuditEvent } from '../audit';
import { TokenwardenError } from '../errors';
import type { AuditReadOptions, AuditSource } from './types';

/** Smallest pause between two progress calls, in ms. */
const PROGRESS_EVERY_MS = 200;

/** Options of {@link JsonLinesSource}. */
export interface JsonLinesSourceOptions {
  /**
   * A JSON-lines file (a `JsonLinesSink` file or an `audit export`), or a directory: every
   * `*.jsonl` file in it with its rotated files (`audit.jsonl.3`, `.2`, `.1`, then `audit.jsonl`,
   * oldest first).
   */
  readonly path: string;
  /** Bytes read at a time. Default: 1 MiB. */
  readonly chunkBytes?: number;
}

/**
 * Thrown when a source cannot be read at all (missing file, no permission); code
 * `audit_source_invalid`.
 */
export class AuditSourceError extends TokenwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('audit_source_invalid', message, options);
    this.name = 'AuditSourceError';
  }
}

/**
 * Reads audit events from JSON-lines files written by `JsonLinesSink`, one line at a time: only
 * the current line is held, never the file. Lines that are not JSON objects are reported through
 * `onUnreadable` (as `file:line`) and skipped.
 *
 * @example
 * const source = new JsonLinesSource({ path: '/var/log/tokenwarden' });
 * const report = await exposureReport(source, { tokenId: 'jti-123', policy });
 */
export class JsonLinesSource implements AuditSource {
  readonly description: string;
  private readonly chunkBytes: number;

  constructor(private readonly options: JsonLinesSourceOptions) {
    this.description = options.path;
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
  }

  /** The files read, oldest first, with their sizes. */
  async files(): Promise<{ path: string; bytes: number }[]> {
    const path = this.options.path;
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw new AuditSourceError(
        `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: error },
      );
    }
    if (!info.isDirectory()) return [{ path, bytes: info.size }];
    const names = await readdir(path);
    const groups = new Map<string, { name: string; n: number }[]>();
    for (const name of names) {
      const m = /^(.*\.jsonl)(?:\.(\d+))?$/.exec(name);
      if (!m) continue;
      const base = m[1]!;
      const list = groups.get(base) ?? [];
      list.push({ name, n: m[2] === undefined ? 0 : Number(m[2]) });
      groups.set(base, list);
    }
    const out: { path: string; bytes: number }[] = [];
    for (const base of [...groups.keys()].sort()) {
      // Rotation shifts audit.jsonl to .1, .1 to .2, …: the highest number is the oldest.
      const list = groups.get(base)!.sort((a, b) => b.n - a.n);
      for (const { name } of list) {
        const file = join(path, name);
        const s = await stat(file).catch(() => undefined);
        if (s?.isFile()) out.push({ path: file, bytes: s.size });
      }
    }
    return out;
  }

  async *read(options: AuditReadOptions = {}): AsyncGenerator<AuditEvent> {
    const files = await this.files();
    const total = files.reduce((sum, f) => sum + f.bytes, 0);
    let done = 0;
    let events = 0;
    let lastProgress = 0;
    const progress = (force: boolean) => {
      if (!options.onProgress) return;
      const now = Date.now();
      if (!force && now - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = now;
      options.onProgress({ done, total, unit: 'bytes', events });
    };
    progress(true);
    for (const file of files) {
      const name = basename(file.path);
      let lineNo = 0;
      const stream = createReadStream(file.path, { highWaterMark: this.chunkBytes });
      const decoder = new StringDecoder('utf8');
      let rest = '';
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          done += chunk.length;
          const text = rest + decoder.write(chunk);
          let start = 0;
          for (;;) {
            const end = text.indexOf('\n', start);
            if (end === -1) break;
            lineNo += 1;
            const event = parseLine(text, start, end);
            start = end + 1;
            if (event === null) continue;
            events += 1;
            if (event === undefined) options.onUnreadable?.(`${name}:${lineNo}`);
            else if (within(event, options)) yield event;
          }
          rest = text.slice(start);
          progress(false);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== undefined) {
          throw new AuditSourceError(
            `cannot read ${file.path} (${(error as NodeJS.ErrnoException).code})`,
            { cause: error },
          );
        }
        throw error;
      }
      rest += decoder.end();
      if (rest.trim() !== '') {
        lineNo += 1;
        events += 1;
        const event = parseLine(rest, 0, rest.length);
        if (event === undefined) options.onUnreadable?.(`${name}:${lineNo}`);
        else if (event !== null && within(event, options)) yield event;
      }
    }
    progress(true);
  }
}

/**
 * Events held in memory, for tests and for events already at hand (an array, or any iterable).
 */
export class MemorySource implements AuditSource {
  constructor(
    private readonly events: Iterable<AuditEvent>,
    readonly description = 'memory',
  ) {}

  async *read(options: AuditReadOptions = {}): AsyncGenerator<AuditEvent> {
    let events = 0;
    for (const event of this.events) {
      events += 1;
      if (within(event, options)) yield event;
    }
    options.onProgress?.({ done: events, total: events, unit: 'bytes', events });
  }
}

/** The event on a line; `null` for a blank line, `undefined` for an unreadable one. */
function parseLine(text: string, start: number, end: number): AuditEvent | null | undefined {
  const line = text.slice(start, end);
  if (line.trim() === '') return null;
  try {
    const value = JSON.parse(line) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const event = value as AuditEvent;
    return typeof event.time === 'string' && typeof event.type === 'string' ? event : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the event's time is within the range (events without a readable time are kept). */
export function within(event: AuditEvent, range: { since?: number; until?: number }): boolean {
  if (range.since === undefined && range.until === undefined) return true;
  const t = Date.parse(event.time);
  if (!Number.isFinite(t)) return true;
  if (range.since !== undefined && t < range.since) return false;
  if (range.until !== undefined && t > range.until) return false;
  return true;
}
