import { randomBytes } from 'node:crypto';
import type { AuditSink, VerificationKey, WardenOptions, WardenStore } from '@tokenwarden/core';
import type { Policy } from '@tokenwarden/core/policy';
import { AUDIENCE, ISSUER, KEY_ID } from './issuer';

/** The purposes customers can consent to; the warden refuses routes naming any other. */
export const PURPOSES = {
  marketing: { description: 'Personalised offers and newsletters' },
  order_fulfilment: { description: 'Delivering and invoicing orders' },
} as const;

/**
 * The warden of every example: the token endpoint's signing key, the demo issuer's HS256 key, the
 * purposes, audit with fingerprints, and the policy whose routes it enforces.
 */
export function demoWardenOptions(options: {
  readonly secret: Buffer;
  readonly store?: WardenStore | undefined;
  /** Audit sinks. Default: the warden's default, JSON lines on standard output. */
  readonly sinks?: readonly AuditSink[] | undefined;
  /** Keys of the token endpoint (POST /oauth/token). Default: none. */
  readonly tokenKeys?: readonly VerificationKey[];
  /** The policy whose routes the warden enforces (tokenwarden.policy.yaml). Default: none. */
  readonly policy?: Policy | undefined;
}): WardenOptions {
  const tokenKeys = options.tokenKeys ?? [];
  return {
    jwt: {
      algorithms: ['HS256', ...new Set(tokenKeys.map((k) => k.alg))],
      keys: [{ kid: KEY_ID, alg: 'HS256', key: options.secret }, ...tokenKeys],
      issuer: ISSUER,
      audience: AUDIENCE,
      maxLifetimeMs: 15 * 60_000,
    },
    ...(options.store ? { store: options.store } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    purposes: PURPOSES,
    audit: {
      ...(options.sinks ? { sinks: options.sinks } : {}),
      // Every process of one deployment needs the same key, so a token's uses match across them.
      fingerprintKey: process.env.AUDIT_FINGERPRINT_KEY ?? randomBytes(32),
      // The hash chain's key: from the environment, else random for this run (the trail of one
      // run still verifies; set TOKENWARDEN_AUDIT_CHAIN_KEY to verify across restarts).
      chainKey: process.env.TOKENWARDEN_AUDIT_CHAIN_KEY ?? randomBytes(32),
    },
  };
}
