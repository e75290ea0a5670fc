import {
  constants,
  createHash,
  createHmac,
  createPublicKey,
  timingSafeEqual,
  verify as verifySignature,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { hasControlChar, isSafeId } from '../internal/text';
import { MemoryReplayCache, type ReplayCache } from '../limits/replay-cache';

/** Algorithms a DPoP proof may be signed with: asymmetric only, never `none` or HMAC. */
export type DpopAlgorithm =
  'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA';

/** Every algorithm in {@link DpopAlgorithm}. */
export const DPOP_ALGORITHMS: readonly DpopAlgorithm[] = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];

/**
 * Why a DPoP check failed. All are 401 except `store_unavailable` (503, the replay cache could
 * not answer and the fail mode is closed).
 * - `dpop_proof_invalid`: the proof is missing, repeated, malformed, badly signed, for another
 *   method or URL, outside its `iat` window, or bound (`ath`) to another access token.
 * - `dpop_proof_replayed`: this proof's `jti` was already used.
 * - `dpop_nonce_required`: the server requires a fresh nonce (`use_dpop_nonce`, with `DPoP-Nonce`).
 * - `dpop_required`: a Bearer token where DPoP is required, or a DPoP-bound token sent as Bearer.
 * - `dpop_binding_mismatch`: the token's `cnf.jkt` is not the proof key's thumbprint, or a token
 *   sent with the DPoP scheme is not DPoP-bound.
 */
export type DpopErrorCode =
  | 'dpop_proof_invalid'
  | 'dpop_proof_replayed'
  | 'dpop_nonce_required'
  | 'dpop_required'
  | 'dpop_binding_mismatch';

/** Whether a route accepts Bearer tokens too, or only DPoP-bound ones. */
export type DpopMode = 'allowed' | 'required';

/** Server-issued nonces (RFC 9449 §8): stateless, HMAC-signed, shared by nodes with one secret. */
export interface DpopNonceOptions {
  /**
   * The HMAC secret, at least 32 bytes. Every node that must accept another's nonces needs the
   * same secret; read it from the environment or a file, never from code.
   */
  readonly secret: string | Buffer;
  /** How long one nonce is handed out, in ms; the previous one is accepted too. Default: 300000. */
  readonly lifetimeMs?: number;
}

/** Options of {@link DpopVerifier}. */
export interface DpopOptions {
  /** Proof algorithms accepted. Default: ES256, ES384, PS256, RS256, EdDSA. */
  readonly algorithms?: readonly DpopAlgorithm[];
  /** Default mode of routes that do not say. Default: `'allowed'` (Bearer tokens still work). */
  readonly mode?: DpopMode;
  /** How old a proof (`iat`) may be, in ms. Default: 300000 (5 minutes). */
  readonly maxAgeMs?: number;
  /** How far in the future a proof's `iat` may be, in ms (clock skew). Default: 5000. */
  readonly clockToleranceMs?: number;
  /**
   * Where used proof `jti`s are remembered. Default: a `MemoryReplayCache` (one process; behind a
   * load balancer use the shared `RedisReplayCache`).
   */
  readonly replayCache?: ReplayCache;
  /**
   * What a request gets when the replay cache cannot answer: `'closed'` refuses it (503
   * `store_unavailable`), `'open'` accepts the proof unchecked for replay. Default: `'closed'`.
   */
  readonly replayFailMode?: 'closed' | 'open';
  /** Require server nonces in proofs. Default: off. */
  readonly nonce?: DpopNonceOptions;
  /** Largest proof accepted, in bytes, checked before parsing. Default: 8192. */
  readonly maxProofBytes?: number;
  /** `realm` in `WWW-Authenticate`. Default: `'api'`. */
  readonly realm?: string;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** What a DPoP check needs from the request and the verified access token. */
export interface DpopCheckInput {
  /** The Authorization scheme the access token came with. */
  readonly scheme: 'bearer' | 'dpop';
  /** The access token, exactly as sent (for `ath`). */
  readonly accessToken: string;
  /** The verified access token's claims (for `cnf.jkt`). */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Every value of the `DPoP` request header (absent or empty: no proof). */
  readonly proofs: readonly string[] | undefined;
  /** The request method, as received. */
  readonly method: string;
  /**
   * The request URL as the client addressed it: scheme, host, (port) and path; query and
   * fragment are ignored. Behind a proxy, build it from the public origin, not the internal one.
   */
  readonly url: string;
  /** The route's mode. Default: the verifier's `mode`. */
  readonly mode?: DpopMode;
}

/** A failed DPoP check: the code, a detail for the audit trail, and the response headers. */
export interface DpopFailure {
  readonly code: DpopErrorCode | 'store_unavailable';
  /** For the audit trail and logs; never contains the proof or the token. */
  readonly detail: string;
  /** 401 or 503. */
  readonly status: 401 | 503;
  /** `www-authenticate` (and `dpop-nonce`, or `retry-after` for 503), lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

/** The result of {@link DpopVerifier.check}. */
export type DpopResult =
  | {
      readonly ok: true;
      /** `'dpop'` when a proof was verified; `'bearer'` for a plain Bearer token (mode allowed). */
      readonly via: 'dpop' | 'bearer';
      /** The proof key's RFC 7638 thumbprint, when a proof was verified. */
      readonly jkt?: string;
      /** True when the replay cache failed and the fail mode let the proof through unchecked. */
      readonly replayUnchecked?: boolean;
      /** Headers to add to the response (a fresh `dpop-nonce` when the client's is ageing). */
      readonly headers: Readonly<Record<string, string>>;
    }
  | { readonly ok: false; readonly failure: DpopFailure };

/** A verified proof, from {@link verifyDpopProof}. */
export interface DpopProof {
  readonly jti: string;
  /** `iat`, epoch ms. */
  readonly issuedAt: number;
  readonly jkt: string;
  readonly alg: DpopAlgorithm;
  readonly nonce?: string;
}

/** Inputs of {@link verifyDpopProof}. */
export interface DpopProofInput {
  readonly proof: string;
  readonly method: string;
  readonly url: string;
  /** The access token; when given, the proof's `ath` must be its hash. */
  readonly accessToken?: string;
  readonly algorithms: readonly DpopAlgorithm[];
  readonly maxAgeMs: number;
  readonly clockToleranceMs: number;
  readonly maxProofBytes: number;
  readonly nowMs: number;
}

/** The result of {@link verifyDpopProof}. */
export type DpopProofResult =
  | { readonly ok: true; readonly proof: DpopProof }
  | { readonly ok: false; readonly detail: string };

const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const DEFAULT_ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MAX_JTI_LENGTH = 256;
const MAX_NONCE_LENGTH = 512;
/** The `DPoP` Authorization scheme (RFC 9449 §7.1) with a token68 credential. */
export const DPOP_AUTHORIZATION = /^dpop +([A-Za-z0-9\-._~+/]+=*)$/i;

const ALG: Record<
  DpopAlgorithm,
  { kty: 'EC' | 'RSA' | 'OKP'; hash: string | null; crv?: string; sigBytes?: number; pss?: number }
> = {
  ES256: { kty: 'EC', hash: 'sha256', crv: 'P-256', sigBytes: 64 },
  ES384: { kty: 'EC', hash: 'sha384', crv: 'P-384', sigBytes: 96 },
  ES512: { kty: 'EC', hash: 'sha512', crv: 'P-521', sigBytes: 132 },
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: 32 },
  PS384: { kty: 'RSA', hash: 'sha384', pss: 48 },
  PS512: { kty: 'RSA', hash: 'sha512', pss: 64 },
  EdDSA: { kty: 'OKP', hash: null, crv: 'Ed25519' },
};

/** base64url(SHA-256(ASCII(accessToken))): the `ath` a proof must carry (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/**
 * The RFC 7638 SHA-256 thumbprint of a public JWK (`cnf.jkt` in DPoP-bound tokens): the required
 * members only, in lexicographic order, no whitespace. Undefined for an unsupported key.
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string | undefined {
  let members: Record<string, unknown>;
  if (jwk.kty === 'EC') members = { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
  else if (jwk.kty === 'RSA') members = { e: jwk.e, kty: 'RSA', n: jwk.n };
  else if (jwk.kty === 'OKP') members = { crv: jwk.crv, kty: 'OKP', x: jwk.x };
  else return undefined;
  if (Object.values(members).some((v) => typeof v !== 'string')) return undefined;
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/**
 * The RFC 9449 §4.3 comparison form of a URL: scheme and host lower case, default port dropped,
 * dot segments resolved, query and fragment removed. Undefined when not an absolute http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return value as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The proof key as a `KeyObject`, from its public members only; undefined when unusable. */
function proofKey(jwk: Record<string, unknown>, alg: DpopAlgorithm): KeyObject | undefined {
  const spec = ALG[alg];
  if (jwk.kty !== spec.kty) return undefined;
  if (PRIVATE_MEMBERS.some((m) => jwk[m] !== undefined)) return undefined;
  let material: JsonWebKey;
  if (spec.kty === 'EC') {
    if (jwk.crv !== spec.crv || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
      return undefined;
    }
    material = { kty: 'EC', crv: spec.crv, x: jwk.x, y: jwk.y };
  } else if (spec.kty === 'OKP') {
    if (jwk.crv !== spec.crv || typeof jwk.x !== 'string') return undefined;
    material = { kty: 'OKP', crv: spec.crv, x: jwk.x };
  } else {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return undefined;
    material = { kty: 'RSA', n: jwk.n, e: jwk.e };
  }
  try {
    const key = createPublicKey({ key: material, format: 'jwk' });
    if (spec.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      return undefined;
    return key;
  } catch {
    return undefined;
  }
}

function signatureValid(
  alg: DpopAlgorithm,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): boolean {
  const spec = ALG[alg];
  if (spec.sigBytes !== undefined && signature.length !== spec.sigBytes) return false;
  try {
    const data = Buffer.from(signingInput, 'ascii');
    if (spec.kty === 'EC') {
      return verifySignature(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (spec.pss !== undefined) {
      return verifySignature(
        spec.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss },
        signature,
      );
    }
    return verifySignature(spec.hash, data, key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies one DPoP proof JWT against a request (RFC 9449 §4.3, checks 2 to 11 except replay and
 * nonce, which {@link DpopVerifier} adds): compact JWS, `typ` `dpop+jwt`, an allowed asymmetric
 * `alg`, a public `jwk` (no private members) that verifies the signature, `htm` and `htu`
 * matching, `iat` within the window, a `jti`, and `ath` matching the access token when given.
 * Pure and synchronous; never throws.
 */
export function verifyDpopProof(input: DpopProofInput): DpopProofResult {
  const fail = (detail: string): DpopProofResult => ({ ok: false, detail });
  const { proof } = input;
  if (typeof proof !== 'string' || proof.length === 0) return fail('no proof');
  if (proof.length > input.maxProofBytes) return fail('proof above the size cap');
  const parts = proof.split('.');
  if (parts.length !== 3) return fail('not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) return fail('bad base64url');
  const header = decodeSegment(h);
  if (!header) return fail('header is not a JSON object');
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') {
    return fail('typ is not dpop+jwt');
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !(input.algorithms as readonly string[]).includes(alg)) {
    return fail('alg not allowed');
  }
  if (header.crit !== undefined) return fail('crit header not supported');
  const jwk = header.jwk;
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return fail('jwk missing');
  const key = proofKey(jwk as Record<string, unknown>, alg as DpopAlgorithm);
  if (!key) return fail('jwk is not a usable public key for alg');
  if (!signatureValid(alg as DpopAlgorithm, key, `${h}.${p}`, Buffer.from(s, 'base64url'))) {
    return fail('signature mismatch');
  }
  const claims = decodeSegment(p);
  if (!claims) return fail('payload is not a JSON object');
  if (!isSafeId(claims.jti, MAX_JTI_LENGTH)) return fail('jti missing or invalid');
  if (typeof claims.htm !== 'string' || claims.htm !== input.method) return fail('htm mismatch');
  if (typeof claims.htu !== 'string') return fail('htu missing');
  const htu = normalizeHtu(claims.htu);
  const target = normalizeHtu(input.url);
  if (htu === undefined || target === undefined || htu !== target) return fail('htu mismatch');
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) {
    return fail('iat missing or not a number');
  }
  const issuedAt = claims.iat * 1000;
  if (issuedAt > input.nowMs + input.clockToleranceMs) return fail('iat in the future');
  if (issuedAt < input.nowMs - input.maxAgeMs) return fail('proof too old');
  if (input.accessToken !== undefined) {
    if (typeof claims.ath !== 'string') return fail('ath missing');
    const want = Buffer.from(accessTokenHash(input.accessToken));
    const got = Buffer.from(claims.ath);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return fail('ath mismatch');
  }
  let nonce: string | undefined;
  if (claims.nonce !== undefined) {
    if (
      typeof claims.nonce !== 'string' ||
      claims.nonce.length > MAX_NONCE_LENGTH ||
      hasControlChar(claims.nonce)
    ) {
      return fail('nonce invalid');
    }
    nonce = claims.nonce;
  }
  const jkt = jwkThumbprint(jwk as Record<string, unknown>);
  if (jkt === undefined) return fail('jwk thumbprint');
  return {
    ok: true,
    proof: {
      jti: claims.jti,
      issuedAt,
      jkt,
      alg: alg as DpopAlgorithm,
      ...(nonce === undefined ? {} : { nonce }),
    },
  };
}

/**
 * Stateless DPoP nonces: `<step>.<mac>`, where step is `floor(now / lifetimeMs)` and mac an
 * HMAC-SHA-256 of it. The current and the previous step are accepted, so a nonce lives one to
 * two lifetimes; nodes sharing the secret accept each other's nonces without shared state.
 */
export class DpopNonces {
  private readonly secret: Buffer;
  private readonly lifetimeMs: number;

  constructor(options: DpopNonceOptions) {
    const secret =
      typeof options?.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options?.secret;
    if (!Buffer.isBuffer(secret) || secret.length < 32) {
      throw new ConfigError(
        `dpop.nonce.secret must be at least 32 random bytes; generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`,
      );
    }
    this.secret = secret;
    this.lifetimeMs = options.lifetimeMs ?? 300_000;
    if (!Number.isSafeInteger(this.lifetimeMs) || this.lifetimeMs < 1_000) {
      throw new ConfigError('dpop.nonce.lifetimeMs must be an integer of at least 1000');
    }
  }

  /** The nonce to hand out at `nowMs`. */
  current(nowMs: number): string {
    return this.forStep(Math.floor(nowMs / this.lifetimeMs));
  }

  /** `'current'`, `'previous'` (valid, but hand out a fresh one) or `'invalid'`. */
  check(nonce: string, nowMs: number): 'current' | 'previous' | 'invalid' {
    const step = Math.floor(nowMs / this.lifetimeMs);
    if (equal(nonce, this.forStep(step))) return 'current';
    if (equal(nonce, this.forStep(step - 1))) return 'previous';
    return 'invalid';
  }

  private forStep(step: number): string {
    const label = step.toString(36);
    const mac = createHmac('sha256', this.secret)
      .update(`tokenwarden-dpop-nonce:${label}`)
      .digest('base64url')
      .slice(0, 22);
    return `${label}.${mac}`;
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * DPoP (RFC 9449) for a resource server: sender-constrained access tokens. Verifies the proof in
 * the `DPoP` header against the request and the access token (`ath`, `cnf.jkt`), refuses a
 * replayed `jti` (through a {@link ReplayCache}), optionally requires server nonces, and answers
 * failures with the RFC's `WWW-Authenticate: DPoP` errors. Per route: `'allowed'` (Bearer tokens
 * still accepted, DPoP-bound tokens always need their proof) or `'required'`.
 *
 * @example
 * const dpop = new DpopVerifier({ replayCache: new RedisReplayCache({ client: redis }) });
 * const result = await dpop.check({ scheme, accessToken, claims, proofs: view.headerValues('dpop'),
 *   method: view.method, url: `https://api.example.com${view.path}` });
 */
export class DpopVerifier {
  /** Proof algorithms accepted, in the order they are advertised (`algs`). */
  readonly algorithms: readonly DpopAlgorithm[];
  /** The default route mode. */
  readonly mode: DpopMode;
  private readonly maxAgeMs: number;
  private readonly clockToleranceMs: number;
  private readonly maxProofBytes: number;
  private readonly replayCache: ReplayCache;
  private readonly ownsCache: boolean;
  private readonly failOpen: boolean;
  private readonly nonces: DpopNonces | undefined;
  private readonly realm: string;
  private readonly clock: Clock;

  constructor(options: DpopOptions = {}) {
    const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
    if (!Array.isArray(algorithms) || algorithms.length === 0) {
      throw new ConfigError(
        `dpop.algorithms must list at least one of ${DPOP_ALGORITHMS.join(', ')}`,
      );
    }
    for (const alg of algorithms) {
      if (!DPOP_ALGORITHMS.includes(alg)) {
        throw new ConfigError(
          `dpop.algorithms: '${String(alg)}' is not a DPoP algorithm; use ${DPOP_ALGORITHMS.join(', ')} (never none or HMAC)`,
        );
      }
    }
    this.algorithms = [...algorithms];
    if (options.mode !== undefined && options.mode !== 'allowed' && options.mode !== 'required') {
      throw new ConfigError(`dpop.mode must be 'allowed' or 'required'`);
    }
    this.mode = options.mode ?? 'allowed';
    this.maxAgeMs = int(options.maxAgeMs ?? 300_000, 'dpop.maxAgeMs', 1_000);
    this.clockToleranceMs = int(options.clockToleranceMs ?? 5_000, 'dpop.clockToleranceMs', 0);
    this.maxProofBytes = int(options.maxProofBytes ?? 8_192, 'dpop.maxProofBytes', 256);
    if (
      options.replayFailMode !== undefined &&
      options.replayFailMode !== 'closed' &&
      options.replayFailMode !== 'open'
    ) {
      throw new ConfigError(`dpop.replayFailMode must be 'closed' or 'open'`);
    }
    this.failOpen = options.replayFailMode === 'open';
    if (options.replayCache !== undefined && typeof options.replayCache?.markUsed !== 'function') {
      throw new ConfigError('dpop.replayCache must have a markUsed() method (a ReplayCache)');
    }
    this.clock = options.clock ?? systemClock;
    this.ownsCache = options.replayCache === undefined;
    this.replayCache = options.replayCache ?? new MemoryReplayCache({ clock: this.clock });
    this.nonces = options.nonce === undefined ? undefined : new DpopNonces(options.nonce);
    this.realm = options.realm ?? 'api';
    if (!/^[\x20-\x7e]*$/.test(this.realm) || /["\\]/.test(this.realm)) {
      throw new ConfigError('dpop.realm must be printable ASCII without quotes or backslashes');
    }
  }

  /**
   * Checks one request's DPoP binding after its access token was verified. Never throws: every
   * failure, a replay-cache outage included, comes back as a {@link DpopFailure} with its status
   * and headers.
   */
  async check(input: DpopCheckInput): Promise<DpopResult> {
    const mode = input.mode ?? this.mode;
    const jkt = boundKey(input.claims);
    const proofs = (input.proofs ?? []).filter((v) => v !== '');
    if (input.scheme === 'bearer') {
      if (jkt !== null) {
        return this.failure('dpop_required', 'a DPoP-bound token was sent with the Bearer scheme');
      }
      if (mode === 'required') return this.failure('dpop_required', 'this route requires DPoP');
      return { ok: true, via: 'bearer', headers: {} };
    }
    if (jkt === null) {
      return this.failure('dpop_binding_mismatch', 'the token is not DPoP-bound (no cnf.jkt)');
    }
    if (proofs.length === 0) return this.failure('dpop_proof_invalid', 'no DPoP proof');
    if (proofs.length > 1) return this.failure('dpop_proof_invalid', 'more than one DPoP header');
    const now = this.clock.now();
    const verified = verifyDpopProof({
      proof: proofs[0] as string,
      method: input.method,
      url: input.url,
      accessToken: input.accessToken,
      algorithms: this.algorithms,
      maxAgeMs: this.maxAgeMs,
      clockToleranceMs: this.clockToleranceMs,
      maxProofBytes: this.maxProofBytes,
      nowMs: now,
    });
    if (!verified.ok) return this.failure('dpop_proof_invalid', verified.detail);
    const proof = verified.proof;
    if (jkt === undefined || !equal(proof.jkt, jkt)) {
      return this.failure('dpop_binding_mismatch', 'cnf.jkt is not the proof key thumbprint');
    }
    const headers: Record<string, string> = {};
    if (this.nonces !== undefined) {
      const state = proof.nonce === undefined ? 'invalid' : this.nonces.check(proof.nonce, now);
      if (state === 'invalid') {
        return this.failure(
          'dpop_nonce_required',
          proof.nonce === undefined ? 'nonce missing' : 'nonce stale or unknown',
        );
      }
      if (state === 'previous') headers['dpop-nonce'] = this.nonces.current(now);
    }
    // Scoped by key, so nobody can burn another client's jti; hashed, so the key is bounded.
    const replayId = createHash('sha256')
      .update(`${proof.jkt}\u0000${proof.jti}`)
      .digest('base64url');
    let first: boolean;
    try {
      first = await this.replayCache.markUsed(
        replayId,
        proof.issuedAt + this.maxAgeMs + this.clockToleranceMs,
      );
    } catch {
      if (this.failOpen) {
        return { ok: true, via: 'dpop', jkt: proof.jkt, replayUnchecked: true, headers };
      }
      return {
        ok: false,
        failure: {
          code: 'store_unavailable',
          detail: 'the DPoP replay cache could not answer',
          status: 503,
          headers: { 'retry-after': '1' },
        },
      };
    }
    if (!first) return this.failure('dpop_proof_replayed', 'jti already used');
    return { ok: true, via: 'dpop', jkt: proof.jkt, headers };
  }

  /** A fresh nonce, when nonces are on (to send as `DPoP-Nonce`), else undefined. */
  currentNonce(): string | undefined {
    return this.nonces?.current(this.clock.now());
  }

  /**
   * The `WWW-Authenticate` challenge for a request without any credential on a DPoP route
   * (`DPoP realm="api", algs="ES256 ..."`), to list next to (or, on `'required'` routes, instead
   * of) the Bearer challenge.
   */
  challenge(): string {
    return `DPoP realm="${this.realm}", algs="${this.algorithms.join(' ')}"`;
  }

  /** Closes the replay cache if this verifier created it. */
  async close(): Promise<void> {
    if (this.ownsCache) await this.replayCache.close?.();
  }

  private failure(code: DpopErrorCode, detail: string): DpopResult {
    const error =
      code === 'dpop_nonce_required'
        ? 'use_dpop_nonce'
        : code === 'dpop_proof_invalid' || code === 'dpop_proof_replayed'
          ? 'invalid_dpop_proof'
          : 'invalid_token';
    const description = DESCRIPTIONS[code];
    const headers: Record<string, string> = {
      'www-authenticate': `DPoP realm="${this.realm}", error="${error}", error_description="${description}", algs="${this.algorithms.join(' ')}"`,
    };
    if (code === 'dpop_nonce_required' && this.nonces !== undefined) {
      headers['dpop-nonce'] = this.nonces.current(this.clock.now());
    }
    return { ok: false, failure: { code, detail, status: 401, headers } };
  }
}

/** Fixed, safe descriptions for `error_description`. */
const DESCRIPTIONS: Record<DpopErrorCode, string> = {
  dpop_proof_invalid: 'The DPoP proof is invalid',
  dpop_proof_replayed: 'The DPoP proof was already used',
  dpop_nonce_required: 'Resource server requires nonce in DPoP proof',
  dpop_required: 'A DPoP-bound access token and proof are required',
  dpop_binding_mismatch: 'The access token is not bound to the DPoP proof key',
};

/**
 * The token's `cnf.jkt`: `null` when the token has no `cnf` (not DPoP-bound), `undefined` when
 * `cnf` is there but malformed (never matches a proof), else the thumbprint.
 */
function boundKey(claims: Readonly<Record<string, unknown>>): string | null | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) return null;
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return undefined;
  const jkt = (cnf as Record<string, unknown>).jkt;
  if (jkt === undefined) return null;
  return typeof jkt === 'string' && jkt.length === 43 && B64URL.test(jkt) ? jkt : undefined;
}

function int(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer of at least ${min}`);
  }
  return value;
}
