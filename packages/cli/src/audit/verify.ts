import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import {
  canonicalJson,
  canonicalLine,
  checkpointKeyFromChainKey,
  chainKeyId,
  ChainHasher,
  ed25519Key,
  parseAuditLine,
  readCheckpoints,
  verifyChains,
  type AuditEvent,
  type ChainHead,
  type CheckpointProblem,
  type VerifyChainOptions,
} from '@tokenwarden/core/internal';
import type { Command } from 'commander';
import {
  ConfigError,
  EnvelopeError,
  FileChainKeyStore,
  loadChainKey,
  StoreUnavailableError,
  type ChainKeyStore,
} from '@tokenwarden/core/internal';
import { RedisChainKeyStore, RedisCheckpointSink } from '@tokenwarden/redis';
import type { CliIo } from '../io';
import { masterKeyOf } from '../keys/master-key';
import { chainKeyOf, CliError, globalOptions, redisUrl } from '../shared';
import { parsePointInTime } from './time';

/** The verification flags of `audit verify` beyond the chain key. */
export interface TamperFlags {
  readonly checkpoints?: readonly string[];
  readonly checkpointKey?: readonly string[];
  readonly retention?: string;
  readonly unkeyed?: boolean;
}

/** What `audit verify` checks the chains against, from its flags. */
export interface VerifyPlan {
  readonly key: Buffer | undefined;
  readonly heads: ChainHead[];
  readonly retention: NonNullable<VerifyChainOptions['retention']>;
  readonly checkpointProblems: CheckpointProblem[];
  /** Checkpoints that verified. */
  readonly checkpointsRead: number;
}

/**
 * Checks the flags and reads the checkpoints. Without a chain key, `--unkeyed` must be given: a
 * keyed chain cannot be checked without its key, and an unkeyed chain proves nothing against
 * whoever can write the trail, so neither passes silently.
 */
export async function planVerification(
  flags: TamperFlags,
  key: Buffer | undefined,
  defaultRetention: string,
  now: number,
  readSource: CheckpointReader = readCheckpointFile,
): Promise<VerifyPlan> {
  if (key === undefined && flags.unkeyed !== true) {
    throw new CliError(
      'audit verify needs the chain key (--chain-key-file or $TOKENWARDEN_AUDIT_CHAIN_KEY): a keyed chain cannot be checked without it. For a trail written with audit.chain: false, pass --unkeyed (it then catches accidental damage only: anyone who can write the trail can recompute an unkeyed chain)',
      2,
    );
  }
  if (key !== undefined && flags.unkeyed === true) {
    throw new CliError('--unkeyed and a chain key contradict each other', 2);
  }
  const retentionText = flags.retention ?? defaultRetention;
  const retention =
    retentionText === 'off'
      ? ('off' as const)
      : {
          since: /^\d+[smhd]$/.test(retentionText)
            ? parsePointInTime(retentionText, '--retention', now)
            : badRetention(),
        };
  const heads: ChainHead[] = [];
  const checkpointProblems: CheckpointProblem[] = [];
  const files = flags.checkpoints ?? [];
  if (files.length > 0) {
    const keys = await checkpointKeys(flags.checkpointKey ?? [], key);
    for (const file of files) {
      const { text, label } = await readSource(file);
      const reading = readCheckpoints(text, {
        keys,
        chainKeyId: key === undefined ? undefined : chainKeyId(key),
      });
      heads.push(...reading.heads);
      for (const p of reading.problems) {
        checkpointProblems.push({ ...p, message: `${label}: ${p.message}` });
      }
    }
  }
  return { key, heads, retention, checkpointProblems, checkpointsRead: heads.length };
}

/** Reads one `--checkpoints` source: its text, and a label for messages (never a URL). */
export type CheckpointReader = (spec: string) => Promise<{ text: string; label: string }>;

async function readCheckpointFile(file: string): Promise<{ text: string; label: string }> {
  try {
    return { text: await readFile(file, 'utf8'), label: file };
  } catch {
    throw new CliError(`--checkpoints file ${file} cannot be read`, 2);
  }
}

/**
 * Reads `--checkpoints` sources: a file; `redis:` (the list `RedisCheckpointSink` writes, in the
 * Redis and prefix of `--redis-url`); or a `redis://` / `rediss://` URL of another Redis (with
 * the `--prefix` given). URLs are never echoed.
 */
export function checkpointReader(command: Command, io: CliIo): CheckpointReader {
  return async (spec) => {
    if (!spec.startsWith('redis:') && !spec.startsWith('rediss:')) return readCheckpointFile(spec);
    const sameRedis = spec === 'redis:';
    const url = sameRedis ? redisUrl(command, io) : spec;
    const label = sameRedis
      ? 'checkpoints in the Redis of --redis-url'
      : 'checkpoints in another Redis';
    let sink: RedisCheckpointSink;
    try {
      sink = new RedisCheckpointSink({
        url,
        prefix: globalOptions(command).prefix,
        commandTimeoutMs: 5_000,
      });
    } catch {
      throw new CliError('--checkpoints must be a file, redis:, or a redis:// or rediss:// URL', 2);
    }
    try {
      return { text: await sink.readAll(), label };
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        throw new CliError(`cannot read the ${label}: ${error.message}`, 1);
      }
      throw error;
    } finally {
      await sink.close();
    }
  };
}

function badRetention(): never {
  throw new CliError(
    '--retention must be off or a duration (30d, 24h): how long the trail keeps events',
    2,
  );
}

/** Public keys from `--checkpoint-key` files, else the key derived from the chain key. */
async function checkpointKeys(
  files: readonly string[],
  key: Buffer | undefined,
): Promise<KeyObject[]> {
  if (files.length === 0) {
    if (key === undefined) {
      throw new CliError(
        '--checkpoints of an unkeyed trail need --checkpoint-key <public key PEM file>',
        2,
      );
    }
    return [checkpointKeyFromChainKey(key)];
  }
  const keys: KeyObject[] = [];
  for (const file of files) {
    let pem: Buffer;
    try {
      pem = await readFile(file);
    } catch {
      throw new CliError(`--checkpoint-key file ${file} cannot be read`, 2);
    }
    try {
      keys.push(ed25519Key(pem, 'public', `--checkpoint-key ${file}`));
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
  }
  return keys;
}

const UNKEYED = new ChainHasher(undefined);

/**
 * What is wrong with one stored line on its own, if anything: not its canonical form, or (with
 * the key) content that does not match its hash. `audit export` withholds such lines.
 */
export function lineProblem(
  event: AuditEvent,
  raw: string,
  hasher: ChainHasher | undefined,
): string | undefined {
  const name = `producer ${event.producer ?? '(none)'} event ${event.seq ?? '(no seq)'}`;
  const canonical = canonicalJson(event);
  if (raw !== canonicalLine(event, canonical)) {
    return `${name}: the stored line differs from its canonical form (duplicate or reordered keys, whitespace or escapes)`;
  }
  const hash = event.hash;
  // A line's own hash: keyed with the key (when given), plain SHA-256 (an older, unkeyed trail)
  // always. Whether a chain should have been keyed is for `audit verify` to say.
  const check =
    typeof hash !== 'string' ? undefined : hash.startsWith('sha256:') ? UNKEYED : hasher;
  if (check !== undefined && check.digest(canonical) !== hash) {
    return `${name}: its content does not match its hash`;
  }
  return undefined;
}

/** Verifies the events of a JSON-lines file. */
export async function verifyFile(
  path: string,
  plan: VerifyPlan,
  heads: readonly ChainHead[],
): Promise<{ found: ReturnType<typeof verifyChains>; unreadable: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError('--file cannot be read', 2);
  }
  const events: AuditEvent[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(parseAuditLine(line));
    } catch {
      unreadable += 1;
    }
  }
  return {
    found: verifyChains(events, {
      key: plan.key,
      heads: [...heads, ...plan.heads],
      retention: plan.retention,
    }),
    unreadable,
  };
}

/** Heads from an earlier `audit verify --json` report: each chain's last seq and hash. */
export async function readAnchors(path: string): Promise<ChainHead[]> {
  let report: unknown;
  try {
    report = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new CliError('--anchor must be a readable `tokenwarden audit verify --json` report', 2);
  }
  const chains = (report as { chains?: unknown }).chains;
  if (!Array.isArray(chains)) {
    throw new CliError('--anchor must be a readable `tokenwarden audit verify --json` report', 2);
  }
  const heads: ChainHead[] = [];
  for (const chain of chains as Record<string, unknown>[]) {
    const { producer, lastSeq, lastHash } = chain;
    if (
      typeof producer === 'string' &&
      typeof lastSeq === 'number' &&
      typeof lastHash === 'string'
    ) {
      heads.push({ producer, seq: lastSeq, hash: lastHash, source: 'anchor' });
    }
  }
  return heads;
}

/** Where `audit verify` and `export` find the chain key. */
export interface ChainKeyFlags {
  readonly chainKeyFile?: string;
  readonly chainKeyStore?: string;
  readonly masterKeyFile?: string;
}

/**
 * The chain key: `--chain-key-file` or `$TOKENWARDEN_AUDIT_CHAIN_KEY`; else, with the master key
 * (`$TOKENWARDEN_MASTER_KEY`), the generated key sealed in `--chain-key-store <file>` or in the
 * Redis of `--redis-url` (see `loadChainKey`). Undefined when there is none. Commands that write
 * audit events pass `create: true`, so the first one generates and stores the key.
 */
export async function auditChainKey(
  command: Command,
  io: CliIo,
  flags: ChainKeyFlags,
  create = false,
): Promise<Buffer | undefined> {
  const direct = await chainKeyOf(flags, io);
  if (direct !== undefined) return direct;
  const master = masterKeyOf(flags.masterKeyFile, io.env, false);
  if (master === undefined) {
    if (flags.chainKeyStore !== undefined) {
      throw new CliError('--chain-key-store needs the master key (TOKENWARDEN_MASTER_KEY)', 2);
    }
    return undefined;
  }
  const url = globalOptions(command).redisUrl ?? io.env.REDIS_URL;
  let store: ChainKeyStore & { close?: () => Promise<void> };
  if (flags.chainKeyStore !== undefined) store = new FileChainKeyStore(flags.chainKeyStore);
  else if (url !== undefined && url !== '') {
    store = new RedisChainKeyStore({
      url: redisUrl(command, io),
      prefix: globalOptions(command).prefix,
      commandTimeoutMs: 5_000,
    });
  } else return undefined;
  try {
    return await loadChainKey({ store, masterKey: master, create });
  } catch (error) {
    if (error instanceof EnvelopeError) {
      throw new CliError(
        `the audit chain key in ${store.description} does not open: ${error.message}`,
        2,
      );
    }
    if (error instanceof ConfigError && flags.chainKeyStore === undefined) return undefined;
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  } finally {
    await store.close?.();
  }
}
