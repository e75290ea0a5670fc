import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Clock } from '../internal/clock';
import { checkpointKeyId, signCheckpoint, type CheckpointSink } from './checkpoints';
import type { AuditEvent } from './types';

/**
 * Appends checkpoint lines to a file (created with mode 0600, parent directories too). Keep the
 * file away from the events' store (another disk, host or bucket): its point is to survive
 * whoever rewrites the events.
 *
 * @example
 * audit: { checkpoints: { sink: new FileCheckpointSink('/var/lib/tokenwarden/checkpoints.jsonl') } }
 */
export class FileCheckpointSink implements CheckpointSink {
  private ready: Promise<unknown> | undefined;

  constructor(readonly path: string) {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError('FileCheckpointSink needs a file path');
    }
  }

  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    this.ready ??= mkdir(dirname(this.path), { recursive: true });
    await this.ready;
    await appendFile(this.path, lines.map((l) => l + '\n').join(''), { mode: 0o600 });
  }
}

/** Resolved checkpoint settings. */
export interface ResolvedCheckpointOptions {
  readonly sink: CheckpointSink;
  readonly everyEvents: number;
  readonly everyMs: number;
  readonly signingKey: KeyObject;
}

/** What the writer needs from the trail. */
export interface CheckpointContext {
  readonly producer: string;
  readonly chainKeyId: string | undefined;
  readonly clock: Clock;
  readonly logError: (message: string, error: unknown) => void;
}

/**
 * Signs a checkpoint of the trail's chain every `everyEvents` events or `everyMs` ms, whichever
 * comes first, and one more at close. Runs off the request path: the trail calls {@link note}
 * after each batch is delivered, and the signature and write happen then, one at a time. A failed
 * write is logged and retried with the next checkpoint (a later checkpoint covers the earlier).
 */
export class CheckpointWriter {
  private last: AuditEvent | undefined;
  private signedSeq = 0;
  private signedAt: number;
  private since = 0;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly keyId: string;

  constructor(
    private readonly options: ResolvedCheckpointOptions,
    private readonly context: CheckpointContext,
  ) {
    this.keyId = checkpointKeyId(options.signingKey);
    this.signedAt = context.clock.now();
  }

  /** The last event of a delivered batch, and how many events the batch held. */
  note(event: AuditEvent | undefined, count: number): void {
    if (event === undefined || this.closed) return;
    this.last = event;
    this.since += count;
    const due = this.signedAt + this.options.everyMs - this.context.clock.now();
    if (this.since >= this.options.everyEvents || due <= 0) {
      this.checkpoint();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.checkpoint();
      }, due).unref();
    }
  }

  /** Signs a last checkpoint, waits for every write, then closes the sink. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.checkpoint();
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.writing;
    await this.options.sink.close?.();
  }

  private checkpoint(): void {
    const event = this.last;
    if (this.closed || event === undefined || event.seq === undefined) return;
    if (event.seq <= this.signedSeq || event.hash === undefined) return;
    const hash = event.hash;
    const now = this.context.clock.now();
    const line = signCheckpoint(
      {
        producer: this.context.producer,
        seq: event.seq,
        hash,
        time: event.time,
        signedAt: new Date(now).toISOString(),
        chain: hash.startsWith('hmac-sha256:') ? 'hmac-sha256' : 'sha256',
        ...(this.context.chainKeyId === undefined ? {} : { chainKeyId: this.context.chainKeyId }),
      },
      this.options.signingKey,
      this.keyId,
    );
    this.signedSeq = event.seq;
    this.signedAt = now;
    this.since = 0;
    this.writing = this.writing.then(() =>
      this.options.sink.write([line]).catch((error: unknown) => {
        this.context.logError('audit checkpoint could not be written', error);
      }),
    );
  }
}
