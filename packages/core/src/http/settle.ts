/**
 * Calls `then(result, a, b, c)` at once when `pending` is already a value, or once it resolves.
 * Warm requests are decided without a promise (`Warden.beginNow`, `Access.authorizeNow`): with a
 * module-level `then` and the adapter's own request objects as `a`, `b`, `c`, that path creates
 * no promise and no closure.
 *
 * A rejection goes to `fail` when given (Express's `next`), else out through the returned promise
 * (Koa and Nest await what the middleware or guard returns). A synchronous throw of `then` is
 * left to the caller, whose framework already catches it.
 *
 * @example
 * settleNowOrLater(warden.beginNow(view), admit, warden, req, next, next);
 */
export function settleNowOrLater<T, A, B, C, R>(
  pending: T | Promise<T>,
  then: (result: T, a: A, b: B, c: C) => R,
  a: A,
  b: B,
  c: C,
): R | Promise<Awaited<R>>;
export function settleNowOrLater<T, A, B, C, R>(
  pending: T | Promise<T>,
  then: (result: T, a: A, b: B, c: C) => R,
  a: A,
  b: B,
  c: C,
  fail: (error: unknown) => void,
): R | Promise<Awaited<R> | void>;
export function settleNowOrLater<T, A, B, C, R>(
  pending: T | Promise<T>,
  then: (result: T, a: A, b: B, c: C) => R,
  a: A,
  b: B,
  c: C,
  fail?: (error: unknown) => void,
): R | Promise<Awaited<R> | void> {
  if (!(pending instanceof Promise)) return then(pending, a, b, c);
  const later = pending.then((result) => then(result, a, b, c)) as Promise<Awaited<R>>;
  return fail === undefined ? later : later.then(undefined, fail);
}
