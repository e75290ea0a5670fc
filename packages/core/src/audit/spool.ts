import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenwardenError } from '../errors';
import { auditLine, parseAuditLine } from './line';
import type { AuditEvent } from './types';

/** Events read from the head of a spool, with what {@link Spool.commit} needs to drop them. */
export interface SpoolChunk {
  readonly events: AuditEvent[];
  /** Opaque size of the chunk, passed back to `commit`. */
  readonly size: number;
  /** Lines that could not be parsed (counted as dropped). */
  readonly corrupt: number;
}

/**
 * Where a failing sink's events wait, in order, until it recovers. Every method is called by one
 * lane at a time, never concurrently.
 */
export interface Spool {
  /** Prepares the spool (creates the directory, finds events left by an earlier run). */
  open(): Promise<void>;
  /** Bytes of events waiting. */
  readonly pendingBytes: number;
  /** Appends events at the tail; rejects when full or when storage fails (nothing is kept then). */
  append(events: readonly AuditEvent[]): Promise<void>;
  /** Reads up to `max` events from the head without removing them. */
  read(max: number): Promise<SpoolChunk>;
  /** Removes the chunk last read from the head. */
  commit(chunk: SpoolChunk): Promise<void>;
  /** Releases resources; a file spool keeps its events for the next start. */
  close(): Promise<void>;
  /** True when events kept here survive a process crash (a file spool). */
  readonly durable: boolean;
}

/** The spool refused events because it is full. Code `audit_spool_full`. */
export class SpoolFullError extends TokenwardenError {
  constructor(maxBytes: number) {
    super('audit_spool_full', `audit spool is full (${maxBytes} bytes)`);
  }
}

/** Spool in memory, bounded by bytes; lost when the process ends. */
export class MemorySpool implements Spool {
  readonly durable = false;
  private items: { event: AuditEvent; bytes: number }[] = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  async open(): Promise<void> {}

  get pendingBytes(): number {
    return this.bytes;
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    let total = 0;
    const sized = events.map((event) => {
      const bytes = auditLine(event).length + 1;
      total += bytes;
      return { event, bytes };
    });
    if (this.bytes + total > this.maxBytes) throw new SpoolFullError(this.maxBytes);
    for (const item of sized) this.items.push(item);
    this.bytes += total;
  }

  async read(max: number): Promise<SpoolChunk> {
    const slice = this.items.slice(this.head, this.head + max);
    return { events: slice.map((i) => i.event), size: slice.length, corrupt: 0 };
  }

  async commit(chunk: SpoolChunk): Promise<void> {
    for (let i = 0; i < chunk.size; i++) this.bytes -= this.items[this.head + i]?.bytes ?? 0;
    this.head += chunk.size;
    if (this.head >= this.items.length) {
      this.items = [];
      this.head = 0;
      this.bytes = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  async close(): Promise<void> {}
}

const READ_CHUNK = 1 << 20;

/**
 * Spool in a file of JSON lines, `<dir>/<name>.spool`, with the read position in
 * `<name>.spool.offset`. Appends are fsynced when `fsync` is set (sync mode), so a spooled event
 * survives a crash. The file is emptied once everything in it has been replayed. A partial last
 * line (a crash mid-append) is cut off at open.
 */
export class FileSpool implements Spool {
  readonly durable = true;
  private handle: FileHandle | undefined;
  private readOffset = 0;
  private endOffset = 0;
  readonly path: string;
  private readonly offsetPath: string;

  constructor(
    dir: string,
    name: string,
    private readonly maxBytes: number,
    private readonly fsync: boolean,
  ) {
    this.path = join(dir, `${name}.spool`);
    this.offsetPath = `${this.path}.offset`;
    this.dir = dir;
  }

  private readonly dir: string;

  get pendingBytes(): number {
    return this.endOffset - this.readOffset;
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const handle = await open(this.path, 'a+', 0o600);
    this.handle = handle;
    let size = (await handle.stat()).size;
    if (size > 0) {
      // Cut a partial last line left by a crash mid-append.
      const tail = Buffer.alloc(Math.min(size, READ_CHUNK));
      let end = size;
      while (end > 0) {
        const start = Math.max(0, end - tail.length);
        const { bytesRead } = await handle.read(tail, 0, end - start, start);
        const nl = tail.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (nl >= 0) {
          end = start + nl + 1;
          break;
        }
        end = start;
      }
      if (end !== size) {
        await handle.truncate(end);
        size = end;
      }
    }
    this.endOffset = size;
    let offset: number;
    try {
      offset = Number((await readFile(this.offsetPath, 'utf8')).trim());
    } catch {
      offset = 0;
    }
    this.readOffset = Number.isInteger(offset) && offset >= 0 && offset <= size ? offset : 0;
    if (this.readOffset === size && size > 0) await this.reset();
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    const handle = this.requireOpen();
    let text = '';
    for (const event of events) text += auditLine(event) + '\n';
    const bytes = Buffer.byteLength(text);
    if (this.pendingBytes + bytes > this.maxBytes) throw new SpoolFullError(this.maxBytes);
    try {
      await handle.appendFile(text);
      if (this.fsync) await handle.datasync();
    } catch (error) {
      // Drop whatever part of the text may have landed, so the file holds whole events only.
      await handle.truncate(this.endOffset).catch(() => undefined);
      throw error;
    }
    this.endOffset += bytes;
  }

  async read(max: number): Promise<SpoolChunk> {
    const handle = this.requireOpen();
    const events: AuditEvent[] = [];
    let corrupt = 0;
    let base = this.readOffset; // file offset of buffer[0]
    let fileAt = this.readOffset; // next byte to read
    let buffer = Buffer.alloc(0);
    let start = 0;
    while (events.length + corrupt < max) {
      const nl = buffer.indexOf(0x0a, start);
      if (nl >= 0) {
        const line = buffer.toString('utf8', start, nl);
        start = nl + 1;
        try {
          events.push(parseAuditLine(line));
        } catch {
          corrupt += 1;
        }
        continue;
      }
      if (fileAt >= this.endOffset) break;
      const want = Math.min(READ_CHUNK, this.endOffset - fileAt);
      const chunk = Buffer.alloc(want);
      const { bytesRead } = await handle.read(chunk, 0, want, fileAt);
      if (bytesRead === 0) break;
      fileAt += bytesRead;
      base += start;
      buffer = Buffer.concat([buffer.subarray(start), chunk.subarray(0, bytesRead)]);
      start = 0;
    }
    return { events, size: base + start - this.readOffset, corrupt };
  }

  async commit(chunk: SpoolChunk): Promise<void> {
    this.readOffset += chunk.size;
    if (this.readOffset >= this.endOffset) {
      await this.reset();
      return;
    }
    const temp = `${this.offsetPath}.tmp`;
    await writeFile(temp, String(this.readOffset), { mode: 0o600 });
    await rename(temp, this.offsetPath);
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Everything was replayed: empty the file and forget the offset. */
  private async reset(): Promise<void> {
    const handle = this.requireOpen();
    await handle.truncate(0);
    this.readOffset = 0;
    this.endOffset = 0;
    await writeFile(this.offsetPath, '0', { mode: 0o600 });
  }

  private requireOpen(): FileHandle {
    if (this.handle === undefined) throw new Error('audit spool is not open');
    return this.handle;
  }
}
