import { createHash } from 'node:crypto';
import { ConfigError } from '../errors';
import { systemClock, type Clock } from '../internal/clock';
import { equalText } from '../internal/text';
import { MemoryReplayCache, type ReplayCache } from '../limits/replay-cache';
import { CallerShareFullError } from '../limits/shares';
import { DpopNonces, type DpopNonceOptions } from './dpop-nonces';
import { B64URL, DPOP_ALGORITHMS, verifyDpopProof, type DpopAlgorithm } from './dpop-proof';

/**
 * Why a DPoP check failed. All are 401 except `dpop_proof_limit_exceeded` (429) and
 * `store_unavailable` (503, the replay cache could not answer and the fail mode is closed).
 * - `dpop_proof_invalid`: the proof is missing, repeated, malformed, badly signed, for another
 *   method or URL, outside its `iat` window, or bound (`ath`) to another access token.
 * - `dpop_proof_replayed`: this proof's `jti` was already used.
 * - `dpop_nonce_required`: the server requires a fresh nonce (`use_dpop_nonce`, with `DPoP-Nonce`).
 * - `dpop_required`: a Bearer token where DPoP is required, or a DPoP-bound token sent as Bearer.
 * - `dpop_binding_mismatch`: the token's `cnf.jkt` is not the proof key's thumbprint, or a token
 *   sent with the DPoP scheme is not DPoP-bound.
 * - `dpop_proof_limit_exceeded`: the caller holds its whole share of the bounded replay cache
 *   (`MemoryReplayCache`); only this caller is refused, with `Retry-After`, until one of its
 *   proofs expires. Never let through, whatever the fail mode.
 */
export type DpopErrorCode =
  | 'dpop_proof_invalid'
  | 'dpop_proof_replayed'
  | 'dpop_nonce_required'
  | 'dpop_required'
  | 'dpop_binding_mismatch'
  | 'dpop_proof_limit_exceeded';

/** Whether a route accepts Bearer tokens too, or only DPoP-bound ones. */
export type DpopMode = 'allowed' | 'required';

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
   * A caller whose share of the cache is full is refused (429) in both modes.
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
  /**
   * Who the proof's `jti` counts against in a replay cache that bounds each caller's share: the
   * warden passes the pair of the token's client and subject. Default: the proof key's
   * thumbprint.
   */
  readonly caller?: string;
}

/** A failed DPoP check: the code, a detail for the audit trail, and the response headers. */
export interface DpopFailure {
  readonly code: DpopErrorCode | 'store_unavailable';
  /** For the audit trail and logs; never contains the proof or the token. */
  readonly detail: string;
  /** 401, 429 or 503. */
  readonly status: 401 | 429 | 503;
  /**
   * `www-authenticate` (and `dpop-nonce`) for 401, `retry-after` (seconds) for 429 and 503;
   * lower-case names.
   */
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

/** Callers remembered as holding their whole replay-cache share, at most. */
const MAX_FULL_CALLERS = 1024;
const DEFAULT_ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'];
/** The `DPoP` Authorization scheme (RFC 9449 §7.1) with a token68 credential. */
export const DPOP_AUTHORIZATION = /^dpop +([A-Za-z0-9\-._~+/]+=*)$/i;

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
  /**
   * Callers whose share of the replay cache was full, with the time (epoch ms) before which it
   * cannot have room: their proofs are refused before the signature is checked.
   */
  private readonly fullCallers = new Map<string, number>();

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
    if (input.caller !== undefined) {
      const until = this.fullCallers.get(input.caller);
      if (until !== undefined) {
        if (until > now) return this.limited(until - now);
        this.fullCallers.delete(input.caller);
      }
    }
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
    if (jkt === undefined || !equalText(proof.jkt, jkt)) {
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
    const caller = input.caller ?? proof.jkt;
    let first: boolean;
    try {
      first = await this.replayCache.markUsed(
        replayId,
        proof.issuedAt + this.maxAgeMs + this.clockToleranceMs,
        caller,
      );
    } catch (error) {
      if (error instanceof CallerShareFullError) {
        if (input.caller !== undefined) this.rememberFull(input.caller, now + error.retryAfterMs);
        return this.limited(error.retryAfterMs);
      }
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

  /** 429 `dpop_proof_limit_exceeded`: the caller's share of the replay cache is full. */
  private limited(retryAfterMs: number): DpopResult {
    return {
      ok: false,
      failure: {
        code: 'dpop_proof_limit_exceeded',
        detail: "the caller's share of the DPoP replay cache is full",
        status: 429,
        headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
      },
    };
  }

  private rememberFull(caller: string, until: number): void {
    this.fullCallers.delete(caller);
    if (this.fullCallers.size >= MAX_FULL_CALLERS) {
      // Only a shortcut: a caller forgotten here is checked by the replay cache again.
      const oldest = this.fullCallers.keys().next();
      if (oldest.done !== true) this.fullCallers.delete(oldest.value);
    }
    this.fullCallers.set(caller, until);
  }

  private failure(code: RefusalCode, detail: string): DpopResult {
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

/** The codes answered 401 with a DPoP challenge. */
type RefusalCode = Exclude<DpopErrorCode, 'dpop_proof_limit_exceeded'>;

/** Fixed, safe descriptions for `error_description`. */
const DESCRIPTIONS: Record<RefusalCode, string> = {
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
