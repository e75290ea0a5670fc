import { StoreUnavailableError } from '@tokenwarden/core';

/*
 * Checks of the values that go to Redis (a caller's mistake: TypeError or RangeError, before
 * anything is sent) and of the replies that come back (a surprising reply: StoreUnavailableError,
 * never a guess). Messages name the class and the argument or operation, never a value.
 */

/** `value` if it is a string. @throws TypeError naming `owner` and the argument. */
export function text(value: unknown, name: string, owner: string): string {
  if (typeof value !== 'string') throw new TypeError(`${owner}: '${name}' must be a string`);
  return value;
}

/** `value` if it is an integer number of epoch ms. @throws RangeError otherwise. */
export function epochNumber(value: unknown, name: string, owner: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RangeError(`${owner}: '${name}' must be an integer number of epoch milliseconds`);
  }
  return value;
}

/** An epoch-ms argument as the decimal string a script stores as given. */
export function epochArg(value: unknown, name: string, owner: string): string {
  return String(epochNumber(value, name, owner));
}

/**
 * A clock's `now()` as a script argument. Rounding down keeps an entry live for the rest of its
 * last millisecond, never less. @throws RangeError for a time that is not finite.
 */
export function nowArg(now: number, owner: string): string {
  const ms = Math.floor(now);
  if (!Number.isSafeInteger(ms)) throw new RangeError(`${owner}: clock.now() must be finite`);
  return String(ms);
}

/** The failure for a reply of the wrong shape. */
export function unexpectedReply(operation: string): StoreUnavailableError {
  return new StoreUnavailableError(`Redis gave an unexpected reply to ${operation}`);
}

/** The reply as exactly `length` strings, or `StoreUnavailableError`. */
export function strings(reply: unknown, length: number, operation: string): string[] {
  if (!Array.isArray(reply) || reply.length !== length) throw unexpectedReply(operation);
  return reply.map((value: unknown) => {
    if (typeof value !== 'string') throw unexpectedReply(operation);
    return value;
  });
}

/** A stored epoch-ms (or count) string as a number, or `StoreUnavailableError`. */
export function epochMs(value: string | undefined, operation: string): number {
  if (value === undefined || !/^-?\d{1,16}$/.test(value)) throw unexpectedReply(operation);
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw unexpectedReply(operation);
  return parsed;
}

/** A flat [field, value, …] reply (HGETALL) as a map, or `StoreUnavailableError`. */
export function fieldMap(reply: unknown, operation: string): Map<string, string> {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw unexpectedReply(operation);
  const out = new Map<string, string>();
  for (let i = 0; i < reply.length; i += 2) {
    const [name, value] = [reply[i], reply[i + 1]];
    if (typeof name !== 'string' || typeof value !== 'string') throw unexpectedReply(operation);
    out.set(name, value);
  }
  return out;
}
