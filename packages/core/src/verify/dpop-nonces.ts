import { createHmac } from 'node:crypto';
import { ConfigError } from '../errors';
import { equalText } from '../internal/text';

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
    if (equalText(nonce, this.forStep(step))) return 'current';
    if (equalText(nonce, this.forStep(step - 1))) return 'previous';
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
