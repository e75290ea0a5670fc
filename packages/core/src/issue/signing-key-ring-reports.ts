/**
 * What a signing key ring reports: lifecycle audit events of its keys, a refused key set (once
 * per refusal, as an audit event and an error log), and a failed background refresh.
 */
import { SigningKeyError } from './signing-key-integrity';
import type { SigningKeyRingOptions } from './signing-key-ring-options';
import type { StoredSigningKey } from './signing-keys';

/** Lifecycle events of a ring's keys. */
export type SigningKeyEventType =
  'signing_key.created' | 'signing_key.rotated' | 'signing_key.retired';

/** The audit events and log lines of one ring. */
export class SigningKeyRingReports {
  /** The last refusal reported, so a set refused at every refresh is reported once. */
  private lastRefusal: string | undefined;

  constructor(private readonly options: Pick<SigningKeyRingOptions, 'audit' | 'logger'>) {}

  /**
   * Reports a refused set once (audit event and error log; the same refusal again at the next
   * refresh is not reported again) and gives the error to throw. `keptRevision` is the revision
   * of the set the ring keeps.
   */
  refused(
    error: SigningKeyError,
    revision: number | undefined,
    keptRevision: number,
  ): SigningKeyError {
    const id = `${error.reason}:${revision ?? ''}:${error.message}`;
    if (id === this.lastRefusal) return error;
    this.lastRefusal = id;
    this.options.audit?.recordEvent({
      type: 'signing_key.refused',
      outcome: 'failure',
      reason: error.code,
      detail: {
        problem: error.reason,
        ...(revision === undefined ? {} : { revision }),
        keptRevision,
      },
    });
    const logger = this.options.logger ?? console;
    const fields = {
      code: error.code,
      problem: error.reason,
      ...(revision === undefined ? {} : { revision }),
      keptRevision,
      error: error.message,
    };
    const message = 'signing key ring refused the stored key set; keeping the keys it has';
    if (logger.error) logger.error(message, fields);
    else logger.warn(message, fields);
    return error;
  }

  /** A set was accepted: the next refusal is reported, even one reported before. */
  accepted(): void {
    this.lastRefusal = undefined;
  }

  /** Records a lifecycle event of a key (no secret material). */
  record(
    type: SigningKeyEventType,
    key: StoredSigningKey,
    actor: string | undefined,
    detail: Record<string, string | number | boolean>,
  ): void {
    this.options.audit?.recordEvent({
      type,
      outcome: 'success',
      ...(actor ? { actor } : {}),
      detail: { kid: key.kid, alg: key.alg, ...detail },
    });
  }

  /** Warns of a failed background refresh; a refused set was reported as an error already. */
  refreshFailed(error: unknown): void {
    if (error instanceof SigningKeyError) return;
    (this.options.logger ?? console).warn(
      'signing key ring refresh failed; keeping the keys it has',
      {
        error: error instanceof Error ? error.message : String(error),
      },
    );
  }
}

/** An epoch-ms time as an ISO 8601 string, for audit details. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
