import {
  createHash,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { ConfigError } from '../errors';
import type { ChainHead } from './chain';

/**
 * A signed statement by a producer: "my chain had reached event `seq`, whose hash is `hash`,
 * written at `time`". Written at an interval to a place other than the events (a file, or a
 * second sink), so whoever rewinds the events and the chain heads in one store is caught by
 * `tokenwarden audit verify --checkpoints`. Ed25519 signature over the record's canonical JSON.
 */
export interface Checkpoint {
  /** Format version. */
  readonly v: 1;
  readonly producer: string;
  readonly seq: number;
  /** The hash of event `seq` (`hmac-sha256:…` or `sha256:…`). */
  readonly hash: string;
  /** The time of event `seq` (ISO 8601), which retention is measured against. */
  readonly time: string;
  /** When the checkpoint was signed (ISO 8601). */
  readonly signedAt: string;
  /** The chain's hash algorithm: `'hmac-sha256'` (keyed) or `'sha256'`. */
  readonly chain: 'hmac-sha256' | 'sha256';
  /** The chain key's id (see `chainKeyId`), when keyed. */
  readonly chainKeyId?: string;
  /** Id of the signing key: `cp-` and 16 hex digits of the SHA-256 of its raw public key. */
  readonly keyId: string;
  /** Ed25519 signature, base64url. */
  readonly sig: string;
}

/** A checkpoint before it is signed. */
export type CheckpointBody = Omit<Checkpoint, 'v' | 'keyId' | 'sig'>;

/** Where checkpoints go. A file (see `FileCheckpointSink`) or a store other than the events'. */
export interface CheckpointSink {
  /** Stores checkpoint lines (JSON, one each, no newline); resolves once they are durable. */
  write(lines: readonly string[]): Promise<void>;
  /** Releases resources. */
  close?(): Promise<void>;
}

/** A problem with one stored checkpoint. */
export interface CheckpointProblem {
  /** 1-based line number in the input. */
  readonly line: number;
  readonly producer?: string;
  readonly seq?: number;
  readonly message: string;
}

// DER prefix of a PKCS#8 Ed25519 private key, before the 32-byte seed.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 signing key from a 32-byte seed. */
export function checkpointKeyFromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new ConfigError('a checkpoint key seed must be 32 bytes');
  return createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/**
 * The checkpoint signing key derived from a chain key (HKDF-SHA-256): the default when no
 * signing key is configured, so a keyed trail signs its checkpoints with nothing more to keep.
 * Its public key (see {@link checkpointPublicKey}) can be handed to auditors.
 */
export function checkpointKeyFromChainKey(chainKey: Buffer): KeyObject {
  const seed = Buffer.from(
    hkdfSync('sha256', chainKey, 'tokenwarden', 'tokenwarden audit checkpoint key', 32),
  );
  return checkpointKeyFromSeed(seed);
}

/**
 * An Ed25519 key from a KeyObject or PEM text; `what` names the option in errors.
 * @throws ConfigError when it is not an Ed25519 key of the kind asked for.
 */
export function ed25519Key(
  key: KeyObject | string | Buffer,
  kind: 'private' | 'public',
  what: string,
): KeyObject {
  let object: KeyObject;
  try {
    object =
      typeof key === 'string' || Buffer.isBuffer(key)
        ? kind === 'private'
          ? createPrivateKey(key)
          : createPublicKey(key)
        : key;
  } catch {
    throw new ConfigError(`${what} must be an Ed25519 ${kind} key (PEM)`);
  }
  const asked = kind === 'private' ? object.type === 'private' : object.type !== 'secret';
  if (!asked || object.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`${what} must be an Ed25519 ${kind} key (PEM)`);
  }
  return kind === 'public' && object.type === 'private' ? createPublicKey(object) : object;
}

/** The public key of a signing key, as PEM (SPKI): what an auditor verifies checkpoints with. */
export function checkpointPublicKey(signingKey: KeyObject): string {
  return createPublicKey(signingKey).export({ type: 'spki', format: 'pem' }).toString();
}

/** The id of a checkpoint key (private or public). */
export function checkpointKeyId(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const raw = pub.export({ type: 'spki', format: 'der' }).subarray(-32);
  return 'cp-' + createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** The signed bytes: every field but `sig`, in a fixed order. */
function payload(c: Omit<Checkpoint, 'sig'>): string {
  return JSON.stringify({
    v: c.v,
    producer: c.producer,
    seq: c.seq,
    hash: c.hash,
    time: c.time,
    signedAt: c.signedAt,
    chain: c.chain,
    ...(c.chainKeyId === undefined ? {} : { chainKeyId: c.chainKeyId }),
    keyId: c.keyId,
  });
}

/** Signs a checkpoint; returns its stored line (JSON, no newline). */
export function signCheckpoint(
  body: CheckpointBody,
  key: KeyObject,
  keyId = checkpointKeyId(key),
): string {
  const text = payload({ ...body, v: 1, keyId });
  const sig = sign(null, Buffer.from(text, 'utf8'), key).toString('base64url');
  return `${text.slice(0, -1)},"sig":"${sig}"}`;
}

/** Options of {@link readCheckpoints}. */
export interface ReadCheckpointsOptions {
  /** Public keys to verify signatures with (one per signer). */
  readonly keys: readonly KeyObject[];
  /** The chain key's id: a keyed checkpoint naming another key is a problem. */
  readonly chainKeyId?: string;
}

/** What {@link readCheckpoints} found. */
export interface CheckpointReading {
  /** Every checkpoint whose signature verified, as chain heads (`source: 'checkpoint'`). */
  readonly heads: ChainHead[];
  readonly problems: CheckpointProblem[];
}

/**
 * Parses and verifies checkpoint lines (a checkpoint file's text). A line that does not parse,
 * is not in canonical form, names an unknown signing key, or whose signature fails is a problem,
 * never a head.
 */
export function readCheckpoints(text: string, options: ReadCheckpointsOptions): CheckpointReading {
  const byId = new Map(options.keys.map((k) => [checkpointKeyId(k), k]));
  const heads: ChainHead[] = [];
  const problems: CheckpointProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const at = i + 1;
    let c: Checkpoint;
    try {
      c = JSON.parse(line) as Checkpoint;
    } catch {
      problems.push({ line: at, message: `checkpoint line ${at} is not JSON` });
      continue;
    }
    const where = { line: at, producer: c?.producer, seq: c?.seq };
    const name = `checkpoint line ${at} (producer ${String(c?.producer)}, event ${String(c?.seq)})`;
    if (
      c === null ||
      typeof c !== 'object' ||
      c.v !== 1 ||
      typeof c.producer !== 'string' ||
      !Number.isSafeInteger(c.seq) ||
      c.seq < 1 ||
      typeof c.hash !== 'string' ||
      typeof c.time !== 'string' ||
      Number.isNaN(Date.parse(c.time)) ||
      typeof c.signedAt !== 'string' ||
      (c.chain !== 'hmac-sha256' && c.chain !== 'sha256') ||
      typeof c.keyId !== 'string' ||
      typeof c.sig !== 'string'
    ) {
      problems.push({ ...where, message: `${name} is not a version 1 checkpoint` });
      continue;
    }
    const text = payload(c);
    if (line !== `${text.slice(0, -1)},"sig":${JSON.stringify(c.sig)}}`) {
      problems.push({ ...where, message: `${name} differs from its canonical form` });
      continue;
    }
    const key = byId.get(c.keyId);
    if (key === undefined) {
      problems.push({
        ...where,
        message: `${name} is signed by key ${c.keyId}, which is not among the checkpoint keys given`,
      });
      continue;
    }
    if (!verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(c.sig, 'base64url'))) {
      problems.push({
        ...where,
        message: `${name}: the signature does not verify (forged or edited)`,
      });
      continue;
    }
    if (
      options.chainKeyId !== undefined &&
      c.chainKeyId !== undefined &&
      c.chainKeyId !== options.chainKeyId
    ) {
      problems.push({
        ...where,
        message: `${name} was written with chain key ${c.chainKeyId}, not the chain key given (${options.chainKeyId})`,
      });
      continue;
    }
    heads.push({
      producer: c.producer,
      seq: c.seq,
      hash: c.hash,
      at: Date.parse(c.time),
      source: 'checkpoint',
    });
  }
  return { heads, problems };
}
