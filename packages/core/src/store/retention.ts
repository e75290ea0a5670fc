import { ConfigError } from '../errors';
import { optionKeys, rejectUnknownKeys } from '../internal/option-keys';

/**
 * How long Tokenwarden's own records outlive their use: the `retention` option of a warden and
 * of `createAdmin`, set from the policy's `retention:` block by `wardenOptionsFromPolicy`.
 */
export interface RetentionOptions {
  /**
   * How long a withdrawn consent record is kept, in ms, before the store deletes it: the proof of
   * what was agreed and when it was withdrawn. Default: the store's `consentRetentionMs`
   * (`DEFAULT_CONSENT_RETENTION_MS`, 3 years). It should outlive every credential issued before
   * the withdrawal (tokens, API keys): once the record is gone, a re-grant no longer refuses them.
   */
  readonly consentAfterWithdrawalMs?: number;
  /**
   * How much longer than needed revocation marks (revoked token ids, not-before marks) are kept,
   * in ms, past the time every token they can refuse has expired, for investigations.
   * Default: 0.
   */
  readonly revocationMarksMs?: number;
}

/** {@link RetentionOptions} after validation. */
export interface ResolvedRetention {
  /** Absent: the store's own default. */
  readonly consentAfterWithdrawalMs?: number;
  readonly revocationMarksMs: number;
}

/** Every option of {@link RetentionOptions} (held to the interface by the compiler). */
export const RETENTION_OPTION_KEYS = optionKeys<RetentionOptions>()([
  'consentAfterWithdrawalMs',
  'revocationMarksMs',
]);

/** Longest retention accepted, in ms (100 years): anything longer is a unit mistake. */
const MAX_RETENTION_MS = 100 * 365 * 86_400_000;

/**
 * Validates the `retention` option.
 * @throws ConfigError naming the option to fix.
 */
export function resolveRetention(
  options: RetentionOptions | undefined,
  where = 'retention',
): ResolvedRetention | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`${where} must be an object such as { consentAfterWithdrawalMs }`);
  }
  rejectUnknownKeys(options, RETENTION_OPTION_KEYS, `${where}.`);
  const consent = checked(options.consentAfterWithdrawalMs, `${where}.consentAfterWithdrawalMs`);
  return {
    ...(consent === undefined ? {} : { consentAfterWithdrawalMs: consent }),
    revocationMarksMs: checked(options.revocationMarksMs, `${where}.revocationMarksMs`) ?? 0,
  };
}

function checked(value: number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_RETENTION_MS) {
    throw new ConfigError(`${name} must be a whole number of ms from 0 to 100 years`);
  }
  return value;
}
