import type {
  Invalidation,
  InvalidationFeed,
  InvalidationListener,
} from '@tokenwarden/core/internal';
import type { RedisConnection } from './connection';

/** The message of one change on the invalidation channel (a JSON array; ids may hold anything). */
export function encodeInvalidation(change: Invalidation): string {
  switch (change.kind) {
    case 'token':
      return JSON.stringify(['t', change.id]);
    case 'subject':
      return JSON.stringify(['s', change.id]);
    case 'client':
      return JSON.stringify(['c', change.id]);
    case 'all':
      return '["a"]';
    case 'consent':
      return JSON.stringify(['p', change.subject, change.purpose]);
    default:
      return '["r"]';
  }
}

/** A message read back: a change, a heartbeat, or (unreadable) a reset that drops everything. */
export function decodeInvalidation(message: string): Invalidation | 'ping' {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return { kind: 'reset' };
  }
  if (!Array.isArray(parsed)) return { kind: 'reset' };
  const [kind, a, b] = parsed as unknown[];
  if (kind === 'h') return 'ping';
  if (kind === 'a') return { kind: 'all' };
  if (typeof a === 'string') {
    if (kind === 't') return { kind: 'token', id: a };
    if (kind === 's') return { kind: 'subject', id: a };
    if (kind === 'c') return { kind: 'client', id: a };
    if (kind === 'p' && typeof b === 'string') return { kind: 'consent', subject: a, purpose: b };
  }
  return { kind: 'reset' };
}

/** The members of an ioredis client (Redis or Cluster) in subscriber mode that the feed uses. */
export interface SubscriberView {
  subscribe(...channels: string[]): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'close' | 'end' | 'reconnecting', listener: () => void): unknown;
}

/** Options of {@link RedisInvalidationFeed}. */
export interface FeedOptions {
  /** A connection of its own, used only to subscribe; the feed closes it. */
  readonly subscriber: RedisConnection<SubscriberView>;
  /** Publishes on the command connection (for heartbeats). */
  readonly publish: (channel: string, message: string) => Promise<unknown>;
  readonly channel: string;
  /** This node's own heartbeat channel (heartbeats are not fanned out to every node). */
  readonly heartbeatChannel: string;
  /**
   * How often a heartbeat is published; the feed stops being live when one fails to publish or
   * none came back for two intervals.
   */
  readonly heartbeatMs: number;
}

/**
 * Pub/sub invalidations of a RedisStore. Live only while subscribed and while its own heartbeats
 * come back. A dropped connection makes it not live at once; a heartbeat that cannot be published
 * (Redis down, frozen past the command timeout) as soon as the publish fails; a silent, half-open
 * subscriber socket within two heartbeat intervals. The caches drop everything at that moment, so
 * a node cut off from Redis serves cached state for at most about two intervals. It is not live
 * either while the store finds its state lost ({@link RedisInvalidationFeed.stateLost}): every
 * cache is then emptied and bypassed, so nothing is answered from memory.
 */
export class RedisInvalidationFeed implements InvalidationFeed {
  private readonly listeners = new Set<InvalidationListener>();
  /** Whether delivery works: subscribed, and heartbeats come back. */
  private live = false;
  /** Whether the store found its state lost. */
  private lost = false;
  private lastBeat = 0;
  private beats = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(private readonly options: FeedOptions) {
    const { channel, heartbeatChannel } = options;
    const subscriber = options.subscriber.client;
    subscriber.on('message', (from, message) => {
      if (from === channel) this.receive(message);
      else if (from === heartbeatChannel) this.lastBeat = Date.now();
    });
    subscriber.on('ready', () => {
      subscriber.subscribe(channel, heartbeatChannel).then(
        () => {
          this.lastBeat = Date.now();
          this.setLive(true);
        },
        () => this.setLive(false),
      );
    });
    // Connection errors surface as 'close' (the connection keeps ioredis from printing them).
    for (const event of ['close', 'end', 'reconnecting'] as const) {
      subscriber.on(event, () => this.setLive(false));
    }
    this.timer = setInterval(() => this.heartbeat(), options.heartbeatMs);
    this.timer.unref?.();
  }

  get isLive(): boolean {
    return this.live && !this.lost;
  }

  /**
   * The store found its state lost (`true`), or current again (`false`); the store calls it on
   * every change, from a read or a heartbeat.
   */
  stateLost(lost: boolean): void {
    if (lost === this.lost) return;
    const was = this.isLive;
    this.lost = lost;
    this.announce(was);
  }

  subscribe(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the heartbeat and closes the subscriber connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.setLive(false);
    this.listeners.clear();
    await this.options.subscriber.close();
  }

  private receive(message: string): void {
    const change = decodeInvalidation(message);
    if (change === 'ping') return;
    for (const listener of this.listeners) listener.invalidate(change);
  }

  private heartbeat(): void {
    if (this.closed) return;
    if (this.live && Date.now() - this.lastBeat > 2 * this.options.heartbeatMs) {
      // Subscribed, but our own messages stopped coming back: nothing is known to be delivered.
      this.setLive(false);
    } else if (!this.live && this.options.subscriber.status === 'ready' && this.beatsFresh()) {
      this.setLive(true);
    }
    this.options
      .publish(this.options.heartbeatChannel, String(++this.beats))
      // Redis cannot take a publish now: what it announces cannot be trusted to arrive either.
      .catch(() => this.setLive(false));
  }

  /** A heartbeat came back within the last interval (after a silent spell ended). */
  private beatsFresh(): boolean {
    return Date.now() - this.lastBeat <= this.options.heartbeatMs;
  }

  private setLive(live: boolean): void {
    const was = this.isLive;
    this.live = live;
    this.announce(was);
  }

  /** Tells the listeners whether the feed is live; a feed not live is announced every time. */
  private announce(was: boolean): void {
    const live = this.isLive;
    if (live && was) return;
    for (const listener of this.listeners) listener.live(live);
  }
}
