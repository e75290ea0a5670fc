import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { checkpointKeyFromChainKey, ed25519Key, type CheckpointSink } from './checkpoints';
import { FileCheckpointSink, type ResolvedCheckpointOptions } from './checkpoint-writer';

/** Where the chain key is read at start-up: an environment variable or a file. */
export type ChainKeyRef = { readonly env: string } | { readonly file: string };

/** The environment variable the chain key is read from by default (also by the CLI). */
export const CHAIN_KEY_ENV = 'TOKENWARDEN_AUDIT_CHAIN_KEY';

/** Signed checkpoints of the audit chain (see `AuditOptions.checkpoints`). */
export interface AuditCheckpointOptions {
  /**
   * Where checkpoints go: a file path (appended to, mode 0600) or a sink of your own. Keep it
   * away from the events' store: another disk, host or bucket.
   */
  readonly sink: string | CheckpointSink;
  /** A checkpoint after this many events. Default: 1000. */
  readonly everyEvents?: number;
  /** A checkpoint at least this often (ms) while events come in. Default: 60000. */
  readonly everyMs?: number;
  /**
   * Ed25519 private key (KeyObject or PEM) signing the checkpoints; give auditors its public key.
   * Default: derived from the chain key (HKDF), so nothing more is kept; required with
   * `chain: false`.
   */
  readonly signingKey?: KeyObject | string | Buffer;
}

const CHECKPOINT_KEYS: ReadonlySet<string> = new Set<keyof AuditCheckpointOptions>([
  'sink',
  'everyEvents',
  'everyMs',
  'signingKey',
]);

type KeyReader = (key: string | Buffer | undefined, name: string) => Buffer | undefined;

/**
 * The chain key and checkpoint settings, validated. A keyed chain is the default: without a key
 * (option, or `$TOKENWARDEN_AUDIT_CHAIN_KEY`) a trail with sinks is a ConfigError, unless
 * `chain: false`.
 * @internal
 */
export function resolveChainSettings(
  options: {
    readonly chain?: boolean;
    readonly chainKey?: string | Buffer | ChainKeyRef;
    readonly checkpoints?: AuditCheckpointOptions;
  },
  hasSinks: boolean,
  keyOf: KeyReader,
): { chainKey: Buffer | undefined; checkpoints: ResolvedCheckpointOptions | undefined } {
  const chain = options.chain ?? true;
  if (typeof chain !== 'boolean') throw new ConfigError('audit.chain must be true or false');
  let chainKey: Buffer | undefined;
  if (chain) {
    chainKey = keyOf(readKey(options.chainKey ?? { env: CHAIN_KEY_ENV }), 'audit.chainKey');
    if (chainKey === undefined && hasSinks) {
      throw new ConfigError(
        `audit.chainKey is required: the audit trail's hash chain is keyed (HMAC-SHA-256) so that whoever can write the trail cannot rewrite it unseen. Set ${CHAIN_KEY_ENV} to 32 or more random bytes, pass audit.chainKey ({ env } or { file }), or set audit.chain: false for an unkeyed chain that catches accidental damage only`,
      );
    }
  } else if (options.chainKey !== undefined) {
    throw new ConfigError('audit.chainKey and audit.chain: false contradict each other');
  }
  return { chainKey, checkpoints: checkpointsOf(options.checkpoints, chainKey) };
}

function readKey(key: string | Buffer | ChainKeyRef): string | Buffer | undefined {
  if (typeof key === 'string' || Buffer.isBuffer(key)) return key;
  if (key !== null && typeof key === 'object' && 'env' in key) {
    const value = process.env[key.env];
    return value === undefined || value === '' ? undefined : value;
  }
  if (key !== null && typeof key === 'object' && 'file' in key) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(key.file);
    } catch (error) {
      throw new ConfigError(
        `audit.chainKey: cannot read file ${key.file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    // A trailing newline from an editor or `echo` is not part of the key.
    return bytes[bytes.length - 1] === 0x0a ? bytes.subarray(0, -1) : bytes;
  }
  throw new ConfigError('audit.chainKey must be bytes, { env } or { file }');
}

function checkpointsOf(
  options: AuditCheckpointOptions | undefined,
  chainKey: Buffer | undefined,
): ResolvedCheckpointOptions | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('audit.checkpoints must be an object with a sink');
  }
  for (const name of Object.keys(options)) {
    if (!CHECKPOINT_KEYS.has(name)) {
      throw new ConfigError(
        `unknown option audit.checkpoints.${name}; known: ${[...CHECKPOINT_KEYS].join(', ')}`,
      );
    }
  }
  const sink =
    typeof options.sink === 'string'
      ? new FileCheckpointSink(options.sink)
      : typeof options.sink?.write === 'function'
        ? options.sink
        : undefined;
  if (sink === undefined || options.sink === '') {
    throw new ConfigError('audit.checkpoints.sink must be a file path or a sink with write(lines)');
  }
  const everyEvents = options.everyEvents ?? 1000;
  if (!Number.isInteger(everyEvents) || everyEvents < 1 || everyEvents > 10_000_000) {
    throw new ConfigError(
      'audit.checkpoints.everyEvents must be a whole number from 1 to 10000000',
    );
  }
  const everyMs = options.everyMs ?? 60_000;
  if (!Number.isInteger(everyMs) || everyMs < 1 || everyMs > 86_400_000) {
    throw new ConfigError(
      'audit.checkpoints.everyMs must be a whole number of ms from 1 to 86400000',
    );
  }
  let signingKey: KeyObject;
  if (options.signingKey !== undefined) {
    signingKey = ed25519Key(options.signingKey, 'private', 'audit.checkpoints.signingKey');
  } else if (chainKey !== undefined) {
    signingKey = checkpointKeyFromChainKey(chainKey);
  } else {
    throw new ConfigError(
      'audit.checkpoints.signingKey is required with audit.chain: false (by default it is derived from the chain key)',
    );
  }
  return { sink, everyEvents, everyMs, signingKey };
}
