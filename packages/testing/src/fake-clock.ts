import type { Clock } from '@tokenwarden/core';

/**
 * A clock that only moves when a test moves it. Implements core's `Clock`, so it can be passed to
 * any store or warden that takes a `clock` option.
 *
 * @example
 * const clock = new FakeClock(Date.UTC(2030, 0, 1));
 * const store = new MemoryStore({ clock });
 * clock.advance(60_000);
 */
export class FakeClock implements Clock {
  private current: number;

  /** @param startMs - The initial time in epoch ms. Default: the wall clock at construction. */
  constructor(startMs: number = Date.now()) {
    this.current = checked(startMs, 'startMs');
  }

  /** The current fake time in epoch ms. */
  now(): number {
    return this.current;
  }

  /** Jumps to `ms` (epoch ms), forwards or backwards. */
  set(ms: number): void {
    this.current = checked(ms, 'ms');
  }

  /** Moves the time forward by `ms` milliseconds (negative moves it back); returns the new time. */
  advance(ms: number): number {
    this.current = checked(this.current + checked(ms, 'ms'), 'ms');
    return this.current;
  }
}

function checked(value: number, name: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`FakeClock: '${name}' must be a finite number`);
  return value;
}
