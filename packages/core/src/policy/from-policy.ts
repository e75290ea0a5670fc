import { ConfigError } from '../errors';
import { masterKey, type MasterKey } from '../internal/envelope';
import type { SecretSource } from '../issue/secrets';
import type { IssuerClient } from '../issue/token-issuer';
import type { WardenOptions } from '../options';
import type { KeySelector, VerificationKey } from '../verify/key-ring';
import type { RetentionOptions } from '../store/retention';
import type { Policy, PolicyRetention } from './types';

/** What a warden needs besides the policy: keys (never in the policy) and runtime parts. */
export type PolicyWardenParts = Omit<WardenOptions, 'jwt' | 'purposes'> & {
  /**
   * Verification keys, e.g. `keyFromFile(...)`, or a key selector that follows rotations: a
   * `SigningKeyRing` (the policy's `signing.algorithm` is then the one allowed).
   */
  readonly keys: readonly VerificationKey[] | KeySelector;
};

/**
 * Warden options driven by the policy: its routes (each enforced with its scopes, consent or
 * lawful basis and data subject), issuer, audience, the signing algorithm, the global
 * lifetime cap, clock tolerance, the purposes and the `retention:` of consent records,
 * revocation marks and the audit spool (`audit.spoolMaxAgeMs`); {@link retentionFromPolicy} has
 * the audit trail's, for the sinks. Keys and runtime parts come from `parts`, whose own
 * `retention` and `audit.spoolMaxAgeMs` win.
 */
export function wardenOptionsFromPolicy(policy: Policy, parts: PolicyWardenParts): WardenOptions {
  const { keys, ...rest } = parts;
  const purposes: Record<string, { description: string }> = {};
  for (const [name, p] of Object.entries(policy.purposes))
    purposes[name] = { description: p.description };
  return {
    // The routes are enforced from the policy; parts' own `policy` wins (`undefined`: not at all).
    policy,
    ...rest,
    jwt: {
      algorithms: [policy.signing.algorithm],
      keys,
      issuer: policy.issuer,
      audience: policy.audience,
      maxLifetimeMs: policy.limits.maxTokenLifetimeMs,
      clockToleranceMs: policy.limits.clockToleranceMs,
    },
    purposes,
    ...(parts.retention === undefined && policy.retention !== undefined
      ? { retention: wardenRetention(policy.retention) }
      : {}),
    ...(policy.retention?.spoolMs !== undefined &&
    parts.audit !== false &&
    parts.audit?.spoolMaxAgeMs === undefined
      ? { audit: { ...parts.audit, spoolMaxAgeMs: policy.retention.spoolMs } }
      : {}),
  };
}

/** What a warden applies itself: consent records after withdrawal, revocation marks. */
function wardenRetention(r: PolicyRetention): RetentionOptions {
  return {
    ...(r.consentAfterWithdrawalMs !== undefined
      ? { consentAfterWithdrawalMs: r.consentAfterWithdrawalMs }
      : {}),
    ...(r.revocationMarksMs !== undefined ? { revocationMarksMs: r.revocationMarksMs } : {}),
  };
}

/**
 * The policy's `retention:` as the options of the parts that apply it, for the ones built outside
 * the warden: `RedisStreamSink`'s and `JsonLinesSink`'s `retentionMs` (the audit trail),
 * `RedisStore`'s and `MemoryStore`'s `consentRetentionMs`, and `createAdmin`'s `retention`
 * (what `wardenOptionsFromPolicy` sets on a warden). `spoolMaxAgeMs` is the longest an event may
 * wait in a spool. Each one is absent when the policy does not set it.
 *
 * @example
 * const retention = retentionFromPolicy(policy);
 * const sink = new RedisStreamSink({ url, retentionMs: retention.auditMs });
 * const store = new RedisStore({ url, consentRetentionMs: retention.consentRetentionMs });
 */
export function retentionFromPolicy(policy: Policy): {
  readonly auditMs?: number;
  readonly spoolMaxAgeMs?: number;
  readonly consentRetentionMs?: number;
  readonly admin?: RetentionOptions;
} {
  const r = policy.retention;
  if (r === undefined) return {};
  return {
    ...(r.auditMs !== undefined ? { auditMs: r.auditMs } : {}),
    ...(r.spoolMs !== undefined ? { spoolMaxAgeMs: r.spoolMs } : {}),
    ...(r.consentAfterWithdrawalMs !== undefined
      ? { consentRetentionMs: r.consentAfterWithdrawalMs }
      : {}),
    admin: wardenRetention(r),
  };
}

/** The issuer's clients (allowed scopes and lifetimes) from the policy. */
export function issuerClientsFromPolicy(policy: Policy): Record<string, IssuerClient> {
  const out: Record<string, IssuerClient> = {};
  for (const [id, c] of Object.entries(policy.clients)) {
    out[id] = { scopes: c.scopes, maxTokenLifetimeMs: c.maxTokenLifetimeMs };
  }
  return out;
}

/** The clients that receive a refresh token with client_credentials (`refreshTokens: true`). */
export function refreshTokenClientsFromPolicy(policy: Policy): string[] {
  return Object.entries(policy.clients)
    .filter(([, c]) => c.refreshTokens)
    .map(([id]) => id);
}

/**
 * `RefreshTokens` lifetimes from the policy: `limits.refreshTokenLifetime` (idle timeout) and
 * `limits.refreshFamilyLifetime` (absolute, from the sign-in).
 *
 * @example
 * const refreshTokens = new RefreshTokens({ store, revoker: warden, audit: warden, ...refreshTokenOptionsFromPolicy(policy) });
 */
export function refreshTokenOptionsFromPolicy(policy: Policy): {
  tokenTtlMs: number;
  familyTtlMs: number;
} {
  return {
    tokenTtlMs: policy.limits.refreshTokenLifetimeMs,
    familyTtlMs: policy.limits.refreshFamilyLifetimeMs,
  };
}

/** Reads each client's secret through `secrets` (clients without one are left out). */
export async function clientSecretsFromPolicy(
  policy: Policy,
  secrets: SecretSource,
): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const [id, c] of Object.entries(policy.clients)) {
    if (c.secret !== undefined) out[id] = await secrets.read(c.secret);
  }
  return out;
}

/** The master key (and previous ones) that encrypt shared signing keys, read through `secrets`. */
export async function masterKeysFromPolicy(
  policy: Policy,
  secrets: SecretSource,
): Promise<{ current: MasterKey; previous: MasterKey[] }> {
  if (policy.signing.masterKey === undefined) {
    throw new ConfigError(
      'the policy names no signing.masterKey; add { env: TOKENWARDEN_MASTER_KEY } or { file: /path }',
    );
  }
  const current = masterKey(await secrets.read(policy.signing.masterKey), 'signing.masterKey');
  const previous: MasterKey[] = [];
  for (const ref of policy.signing.previousMasterKeys) {
    previous.push(masterKey(await secrets.read(ref), 'signing.previousMasterKeys'));
  }
  return { current, previous };
}
