import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { ConfigError } from '../errors';
import { JWT_ALGORITHMS, type JwtAlgorithm } from '../verify/key-ring';

/** Algorithms a signing key ring signs with: the ones the warden verifies. */
export type SigningAlgorithm = JwtAlgorithm;

/** A public key as published in a JWKS (RFC 7517): RSA, EC or OKP (Ed25519/Ed448). */
export interface Jwk {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly kid: string;
  readonly alg: string;
  readonly use: 'sig';
  readonly n?: string;
  readonly e?: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
}

/** A JSON Web Key Set: what a JWKS endpoint answers. */
export interface JwkSet {
  readonly keys: readonly Jwk[];
}

/**
 * One signing key as stored and shared between nodes. Times are epoch ms. `secret` is the private
 * key (PKCS#8 PEM) or HMAC secret (base64url): stores must encrypt it at rest (the Redis key store
 * seals it with AES-256-GCM).
 */
export interface StoredSigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly secret: string;
  /** The public half as a JWK; absent for HMAC keys, which are never published. */
  readonly publicJwk?: Jwk;
  readonly createdAt: number;
  /** From when this key signs (until a successor's `activeFrom`). */
  readonly activeFrom: number;
  /** Set once a successor is scheduled: tokens it signed verify until then; removed after. */
  readonly verifyUntil?: number;
}

/**
 * How the deployment's rings rotate, stored with the set so `tokenwarden keys rotate` schedules
 * keys exactly as the rings would.
 */
export interface SigningKeySettings {
  readonly algorithm: SigningAlgorithm;
  /** How long a new key is published before it signs, in ms. */
  readonly activationDelayMs: number;
  /** How long a key verifies after its successor starts signing (max lifetime + tolerance), in ms. */
  readonly verifyForMs: number;
}

/** The shared key set, with a revision for compare-and-set writes. */
export interface SigningKeySet {
  /** Increments by one on every write. 0: nothing stored yet. */
  readonly revision: number;
  readonly keys: readonly StoredSigningKey[];
  /** The rings' settings, written by every ring that saves. */
  readonly settings?: SigningKeySettings;
}

/** Signing key metadata without secret material: what `keys list` and the JWKS need. */
export type SigningKeyInfo = Omit<StoredSigningKey, 'secret'>;

/**
 * Keeps the shared {@link SigningKeySet}. Writes are compare-and-set on the revision, so two nodes
 * rotating at once cannot both win.
 */
export interface SigningKeyStore {
  /** The current set (revision 0 and no keys when nothing is stored). */
  load(): Promise<SigningKeySet>;
  /** Writes `next` if the stored revision is `next.revision - 1`; resolves false otherwise. */
  save(next: SigningKeySet): Promise<boolean>;
  /** Calls `listener` after any node saves; resolves to an unsubscribe function. Optional. */
  watch?(listener: () => void): Promise<() => Promise<void>>;
}

/** A {@link SigningKeyStore} in process memory: one node, tests, the demo. */
export class MemorySigningKeyStore implements SigningKeyStore {
  private set: SigningKeySet = { revision: 0, keys: [] };
  private readonly listeners = new Set<() => void>();

  async load(): Promise<SigningKeySet> {
    return this.set;
  }

  async save(next: SigningKeySet): Promise<boolean> {
    if (next.revision !== this.set.revision + 1) return false;
    this.set = { ...next, keys: [...next.keys] };
    for (const listener of this.listeners) listener();
    return true;
  }

  async watch(listener: () => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return async () => {
      this.listeners.delete(listener);
    };
  }
}

const RSA_BITS: Record<string, number> = { '256': 2048, '384': 3072, '512': 4096 };
const EC_CURVES: Record<string, string> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};
const HMAC_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/** Checks that `alg` is one Tokenwarden can sign and verify with. */
export function assertSigningAlgorithm(alg: unknown, what = 'signing algorithm'): SigningAlgorithm {
  if (typeof alg !== 'string' || !(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new ConfigError(
      `${what} '${String(alg)}' is not supported; use ${JWT_ALGORITHMS.join(', ')}`,
    );
  }
  return alg as SigningAlgorithm;
}

/** A new key id: the date and 48 random bits, e.g. `2026-11-28.f3a9c0d1e2b4`. */
export function newKeyId(now: number): string {
  return `${new Date(now).toISOString().slice(0, 10)}.${randomBytes(6).toString('hex')}`;
}

/**
 * Generates a signing key: RSA (2048/3072/4096 bits for RS/PS 256/384/512), EC on the curve of
 * the algorithm, Ed25519 for EdDSA, or a random HMAC secret of the hash size.
 */
export function generateSigningKey(
  alg: SigningAlgorithm,
  now: number,
  activeFrom: number = now,
  kid: string = newKeyId(now),
): StoredSigningKey {
  assertSigningAlgorithm(alg);
  const family = alg.slice(0, 2);
  if (family === 'HS') {
    const secret = randomBytes(HMAC_BYTES[alg] ?? 32).toString('base64url');
    return { kid, alg, secret, createdAt: now, activeFrom };
  }
  const { privateKey } =
    family === 'ES'
      ? newKeyPair('ec', { namedCurve: EC_CURVES[alg] as string })
      : family === 'Ed'
        ? newKeyPair('ed25519')
        : newKeyPair('rsa', { modulusLength: RSA_BITS[alg.slice(2)] ?? 2048 });
  return {
    kid,
    alg,
    secret: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    publicJwk: publicJwk(privateKey, kid, alg),
    createdAt: now,
    activeFrom,
  };
}

/**
 * Generates a key pair whose KeyObjects do not share their lock with the generation job. Node 20
 * can deadlock when a garbage collection finalises a key generation job while a KeyObject of that
 * very key is being read (`asymmetricKeyDetails` of an RSA key allocates, the collection runs the
 * job's destructor, which waits for the lock the read holds): the job hands the keys out as PEM
 * and they are imported again, so no later use of them can meet the job.
 *
 * @example
 * const { privateKey, publicKey } = newKeyPair('rsa', { modulusLength: 2048 });
 */
export function newKeyPair(
  ...args: ['rsa', { modulusLength: number }] | ['ec', { namedCurve: string }] | ['ed25519']
): { privateKey: KeyObject; publicKey: KeyObject } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const pair: { privateKey: string; publicKey: string } =
    args[0] === 'rsa'
      ? generateKeyPairSync('rsa', {
          modulusLength: args[1].modulusLength,
          publicKeyEncoding,
          privateKeyEncoding,
        })
      : args[0] === 'ec'
        ? generateKeyPairSync('ec', {
            namedCurve: args[1].namedCurve,
            publicKeyEncoding,
            privateKeyEncoding,
          })
        : generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
  return {
    privateKey: createPrivateKey(pair.privateKey),
    publicKey: createPublicKey(pair.publicKey),
  };
}

/** The public JWK of a key (private or public KeyObject): RSA, EC, or OKP for EdDSA keys. */
export function publicJwk(key: KeyObject, kid: string, alg: string): Jwk {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.type !== 'public') throw new ConfigError(`key '${kid}' has no public half to publish`);
  const raw = pub.export({ format: 'jwk' }) as Record<string, string>;
  const kty = raw.kty as Jwk['kty'];
  const fields =
    kty === 'RSA'
      ? { n: raw.n, e: raw.e }
      : kty === 'EC'
        ? { crv: raw.crv, x: raw.x, y: raw.y }
        : { crv: raw.crv, x: raw.x };
  return { kty, kid, alg, use: 'sig', ...fields };
}

/** The KeyObject that signs with a stored key. */
export function signingKeyObject(key: StoredSigningKey): KeyObject {
  return key.alg.startsWith('HS')
    ? createSecretKey(Buffer.from(key.secret, 'base64url'))
    : createPrivateKey(key.secret);
}

/** The key that signs at `now`: the latest `activeFrom` not after now, unless retired. */
export function activeKeyAt<K extends SigningKeyInfo>(
  keys: readonly K[],
  now: number,
): K | undefined {
  let best: K | undefined;
  for (const key of keys) {
    if (key.activeFrom > now || (key.verifyUntil !== undefined && key.verifyUntil <= now)) continue;
    // Ties go to the later entry: a key added by an immediate rotation wins in the same ms.
    if (best === undefined || key.activeFrom >= best.activeFrom) best = key;
  }
  return best;
}

/** What a rotation changed. */
export interface RotationPlan {
  readonly set: SigningKeySet;
  readonly created: StoredSigningKey;
  /** The key that signed until now; it verifies until its `verifyUntil`. */
  readonly previous: StoredSigningKey | undefined;
  /** Scheduled keys that never became active and were dropped. */
  readonly dropped: readonly StoredSigningKey[];
}

/**
 * Adds `created` as the successor of the active key: the active key keeps verifying for
 * `verifyForMs` after `created.activeFrom` (the longest token lifetime plus clock tolerance), so
 * no token it signed is refused before it expires. Keys scheduled but not yet active are dropped
 * (they never signed anything).
 */
export function planRotation(
  set: SigningKeySet,
  created: StoredSigningKey,
  now: number,
  verifyForMs: number,
): RotationPlan {
  const previous = activeKeyAt(set.keys, now);
  const dropped = set.keys.filter((k) => k.activeFrom > now);
  const keys = set.keys
    .filter((k) => k.activeFrom <= now)
    .map((k) => (k === previous ? { ...k, verifyUntil: created.activeFrom + verifyForMs } : k));
  keys.push(created);
  return { set: { ...set, revision: set.revision + 1, keys }, created, previous, dropped };
}

/** Removes the keys whose `verifyUntil` has passed; undefined when none has. */
export function planRetirement(
  set: SigningKeySet,
  now: number,
): { readonly set: SigningKeySet; readonly retired: readonly StoredSigningKey[] } | undefined {
  const retired = set.keys.filter((k) => k.verifyUntil !== undefined && k.verifyUntil <= now);
  if (retired.length === 0) return undefined;
  return {
    set: { ...set, revision: set.revision + 1, keys: set.keys.filter((k) => !retired.includes(k)) },
    retired,
  };
}

/** The JWKS of a key set: public keys of every key not yet retired (HMAC keys never appear). */
export function jwksOf(keys: readonly SigningKeyInfo[], now: number): JwkSet {
  return {
    keys: keys
      .filter(
        (k) => k.publicJwk !== undefined && (k.verifyUntil === undefined || k.verifyUntil > now),
      )
      .map((k) => k.publicJwk as Jwk),
  };
}

/** Options of {@link rotateSigningKeys}. */
export interface RotateOptions extends Partial<SigningKeySettings> {
  /** Current time, epoch ms. */
  readonly now: number;
  /** Sign with the new key at once (a compromised key). Default: after the activation delay. */
  readonly immediate?: boolean;
}

/**
 * One rotation against a store, retried on concurrent writes: what a ring's `rotate()` and
 * `tokenwarden keys rotate` both do. Settings not given come from the stored set; with neither,
 * a {@link ConfigError} says which to pass.
 */
export async function rotateSigningKeys(
  store: SigningKeyStore,
  options: RotateOptions,
): Promise<RotationPlan> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const set = await store.load();
    const algorithm = options.algorithm ?? set.settings?.algorithm;
    const activationDelayMs = options.activationDelayMs ?? set.settings?.activationDelayMs;
    const verifyForMs = options.verifyForMs ?? set.settings?.verifyForMs;
    if (algorithm === undefined || activationDelayMs === undefined || verifyForMs === undefined) {
      throw new ConfigError(
        'no rotation settings are stored yet: start a ring first, or give the algorithm, activation delay and maximum token lifetime',
      );
    }
    const now = options.now;
    const created = generateSigningKey(
      algorithm,
      now,
      options.immediate ? now : now + activationDelayMs,
    );
    // The settings this rotation used become the stored ones: the CLI's next rotation follows them.
    const plan = planRotation(
      { ...set, settings: { algorithm, activationDelayMs, verifyForMs } },
      created,
      now,
      verifyForMs,
    );
    if (await store.save(plan.set)) return plan;
  }
  throw new ConfigError('the signing key set kept changing during rotation; try again');
}
