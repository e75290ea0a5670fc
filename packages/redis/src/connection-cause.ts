import { reason } from './client';

/**
 * The cause of a connection failure for a log or an error message: the Node error code and the
 * address it names (`ECONNREFUSED 127.0.0.1:6390`, `ENOTFOUND redis.internal`), else the short
 * reason (a Redis error code such as WRONGPASS); `withAddress: false`: the code alone. Never a
 * password: ioredis messages of a failed handshake are not echoed.
 */
export function connectionCause(err: Error, withAddress = true): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    if (!withAddress) return code;
    const target = new RegExp(`${code} (\\S+)$`).exec(err.message)?.[1];
    if (target !== undefined && /^[\w.:[\]-]+$/.test(target)) return `${code} ${target}`;
  }
  return reason(err);
}
