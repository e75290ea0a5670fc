import { ConfigError, StoreUnavailableError } from '@tokenwarden/core';
import { MAX_COMMAND_TIMEOUT_MS } from './defaults';
import { unexpectedReply } from './values';

/**
 * How many replicas must hold a revocation or a consent withdrawal before the store reports it
 * written (option `durability` of `RedisStore`).
 */
export interface StoreDurability {
  /** Replicas that must acknowledge the write (Redis `WAIT numreplicas`). Integer, at least 1. */
  readonly replicas: number;
  /** How long Redis waits for them, in ms (Redis `WAIT … timeout`). Integer from 1 to 60000. */
  readonly timeoutMs: number;
}

/**
 * A write that Redis applied on the primary but that fewer replicas than `durability.replicas`
 * acknowledged within `durability.timeoutMs`. A failover before the replicas catch up could lose
 * it, so the caller is told it failed (code `store_unavailable`, as every store failure): retry
 * it, or check the replicas. The write itself is kept on the primary and announced to every node.
 */
export class StoreNotReplicatedError extends StoreUnavailableError {
  /** Replicas that acknowledged the write in time. */
  readonly acknowledged: number;
  /** Replicas that had to. */
  readonly required: number;

  constructor(operation: string, acknowledged: number, durability: StoreDurability) {
    super(
      `Redis applied ${operation} but ${acknowledged} of ${durability.replicas} replicas ` +
        `acknowledged it within ${durability.timeoutMs} ms`,
    );
    this.name = 'StoreNotReplicatedError';
    this.acknowledged = acknowledged;
    this.required = durability.replicas;
  }
}

/** Checks option `durability` of `RedisStore`; `undefined` when it is not set. */
export function checkedDurability(value: unknown): StoreDurability | undefined {
  if (value === undefined) return undefined;
  const message =
    `RedisStore option 'durability' must be { replicas, timeoutMs }: replicas an integer of at ` +
    `least 1, timeoutMs an integer from 1 to ${MAX_COMMAND_TIMEOUT_MS}`;
  if (value === null || typeof value !== 'object') throw new ConfigError(message);
  const { replicas, timeoutMs } = value as Record<string, unknown>;
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 1) {
    throw new ConfigError(message);
  }
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isSafeInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > MAX_COMMAND_TIMEOUT_MS
  ) {
    throw new ConfigError(message);
  }
  return { replicas, timeoutMs };
}

/** A pipeline holding one write script and `WAIT` (see {@link sendDurable}). */
export interface WaitPipeline {
  wait(replicas: number, timeoutMs: number): WaitPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * Sends one write script followed by `WAIT replicas timeoutMs` in one pipeline, so both go to the
 * same connection: on Redis Cluster, to the master of the script's slot (WAIT has no key, so the
 * pipeline goes where its script's key lives), and WAIT counts that master's replicas. Resolves
 * with the script's reply once enough replicas acknowledged everything written before the WAIT on
 * that connection; rejects with {@link StoreNotReplicatedError} when too few did.
 */
export async function sendDurable(
  pipeline: WaitPipeline,
  queue: (pipeline: WaitPipeline) => WaitPipeline,
  operation: string,
  durability: StoreDurability,
): Promise<unknown> {
  const replies = await queue(pipeline).wait(durability.replicas, durability.timeoutMs).exec();
  if (!Array.isArray(replies) || replies.length !== 2) throw unexpectedReply(operation);
  const [[scriptError, reply], [waitError, acknowledged]] = replies as [
    [Error | null, unknown],
    [Error | null, unknown],
  ];
  if (scriptError !== null) throw scriptError;
  if (waitError !== null) throw waitError;
  if (typeof acknowledged !== 'number' || !Number.isSafeInteger(acknowledged)) {
    throw unexpectedReply(operation);
  }
  if (acknowledged < durability.replicas) {
    throw new StoreNotReplicatedError(operation, acknowledged, durability);
  }
  return reply;
}
